"""mmengine Inferencer of 6-DoF grasps: depth image / point cloud / GraspNet frame in,
graspnetAPI ``GraspGroup`` (camera frame, metres) out, plus a picture.

Example::

    from graspcontrast_mm.apis import GraspInferencer
    infer = GraspInferencer('configs/gsnet.py', 'work_dirs/gsnet/epoch_10.pth')
    out = infer(dict(depth='depth.png', intrinsics=K, depth_scale=1000.0,
                     mask='workspace_mask.png'), top_k=50, out_dir='outputs')
    gg = out['predictions'][0]        # graspnetAPI GraspGroup, camera frame, metres

Frames and units (see ``docs/data_flow.md``): every point and grasp is in the camera frame
of its input (OpenCV: x right, y down, z forward), in metres; ``K`` is in pixels; a depth
image holds ``depth_m * depth_scale`` (uint16 millimetres: ``depth_scale = 1000``).
"""
import copy
import os
import os.path as osp
import time
import warnings
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from graspcontrast_mm.datasets.transforms import (DepthToPoints, ObjectWorkspaceCrop,
                                                  PointSample, Voxelize, read_intrinsics,
                                                  read_mask, read_point_cloud)
from graspcontrast_mm.engine.checkpoint_compat import load_checkpoint_file
from graspcontrast_mm.engine.checkpoint_config import config_from_checkpoint
from graspcontrast_mm.engine.model_loading import load_model_checkpoint
from graspcontrast_mm.registry import INFERENCERS, MODELS, SCOPE, VISUALIZERS
from graspcontrast_mm.structures.grasp import GRASP_ARRAY_LEN
from graspcontrast_mm.visualization import GraspVisualizer
from .grasp_selection import (DEFAULT_COLLISION_CFG, DEFAULT_SUPPORT_PLANE_CFG,
                              fit_support_plane, merge_options, select_grasps)
from .grasp_outputs import format_grasps, grasp_summary, save_grasps_npy, write_json
from .inference_inputs import (complete_pipeline, find_test_pipeline, kind_pipeline,
                               load_input, normalize_input, type_name)

__all__ = ['GraspInferencer', 'read_intrinsics', 'read_point_cloud', 'read_mask',
           'save_grasps_npy']


@INFERENCERS.register_module(name=['GraspInferencer', 'gsnet'])
class GraspInferencer(BaseInferencer):
    """6-DoF grasp detection on depth images, point clouds and GraspNet frames.

    Model: a config (path, :class:`Config` or dict) and a checkpoint, or ``model=None`` and
    a checkpoint embedding its config (``meta['cfg']``, parsed as data, never executed);
    weights load through :func:`~graspcontrast_mm.engine.load_model_checkpoint` (as in
    ``tools/test.py``). It must predict ``pred_grasps`` (GSNet, or ``predicts_grasps``).

    Preprocessing: the config's test pipeline (``test_dataloader.dataset.pipeline``, as
    ``tools/test.py`` runs it) with only its loading steps swapped for the input's kind
    (:mod:`~graspcontrast_mm.apis.inference_inputs`); numpy's RNG is seeded with ``seed``
    per input. Post-processing: the model's own (decoding, optional test-time collision
    detection, NMS: its ``test_cfg``), then :func:`~.grasp_selection.select_grasps`
    (collision filter, support plane, ``score_thr``, ``top_k``).

    Inputs (one or a list): a depth image ((H, W) array, float metres or integer
    ``depth_scale`` units per metre, default 1000; a ``.png`` / ``.tif`` / ``.npy`` file;
    or ``dict(depth=..., intrinsics=K, depth_scale=..., mask=..., color=...)``, ``K`` 3x3 or
    ``fx, fy, cx, cy`` from the dict or the call's ``intrinsics``); a point cloud ((N, 3)
    array, camera frame, metres; a ``.npy`` / ``.ply`` / ``.pcd`` file; or
    ``dict(points=..., colors=...)``); a GraspNet frame ``dict(data_root, scene_id, camera,
    frame_id)``.

    Output of ``__call__``: ``{'predictions': [GraspGroup, ...], 'visualization': [uint8
    (H, W, 3), ...] or None, 'summaries': [dict, ...]}``, one ``GraspGroup`` per input
    sorted by score; with ``return_datasamples=True`` the data samples (``pred_grasps``,
    ``scene_points``, metainfo with counts and timings).

    Args:
        model: config path / object, or None (config from the checkpoint).
        weights: checkpoint path (None: random weights, with a warning).
        device: torch device (default ``'cpu'``).
        scope: registry scope (default ``'graspcontrast_mm'``).
        show_progress: show a progress bar.
        num_points: override ``PointSample.num_points`` of the test pipeline.
        voxel_size: override ``Voxelize.voxel_size``, metres.
        depth_range: override ``DepthToPoints``' ``(min_depth, max_depth)``, metres.
        test_cfg: entries merged into the model's ``test_cfg`` (e.g. ``nms``,
            ``empty_if_no_graspable``, ``collision_thresh=0.01`` for the GSNet reference's
            test-time collision detection against ``scene_points``; -1 = off).
        collision_cfg: the collision filter's settings
            (:data:`~.grasp_selection.DEFAULT_COLLISION_CFG`; ``iou_thresh`` switches to
            the reference's volume tolerance, see :func:`~.grasp_selection.collision_mask`).
        strict: strict checkpoint loading (default); ``False`` loads what fits and warns.
        support_plane_cfg: settings of the ``support_plane`` call option
            (:data:`~.grasp_selection.DEFAULT_SUPPORT_PLANE_CFG`).

    Raises ``CheckpointLoadError``, ``UnsafeConfigError``, ``CheckpointMismatchError`` /
    ``NonFiniteWeightsError`` or ``TypeError`` (not a grasp detector) at construction; bad
    input is a ``ValueError`` / ``FileNotFoundError`` / ``KeyError`` naming the input, e.g.
    points farther than :attr:`max_workspace_distance` (wrong intrinsics or units).
    """

    #: Clock of the stage timings (wall time); ``time.process_time`` gives CPU time.
    clock = staticmethod(time.perf_counter)
    #: Farthest plausible input point from the camera, metres.
    max_workspace_distance: float = 10.0

    preprocess_kwargs: set = {'intrinsics', 'depth_scale', 'mask', 'seed', 'support_plane'}
    forward_kwargs: set = {'top_k', 'score_thr', 'collision_filter'}
    visualize_kwargs: set = {'return_vis', 'img_out_dir', 'view', 'image_size',
                             'max_grasps_drawn'}
    postprocess_kwargs: set = {'pred_out_dir', 'print_result'}

    def __init__(self,
                 model: Union[str, Config, ConfigDict, dict, None] = None,
                 weights: Optional[str] = None,
                 device: Optional[str] = 'cpu',
                 scope: Optional[str] = SCOPE,
                 show_progress: bool = False,
                 *,
                 num_points: Optional[int] = None,
                 voxel_size: Optional[float] = None,
                 depth_range: Optional[Tuple[float, float]] = None,
                 test_cfg: Optional[dict] = None,
                 collision_cfg: Optional[dict] = None,
                 strict: bool = True,
                 support_plane_cfg: Optional[dict] = None) -> None:
        self._strict = bool(strict)
        self._overrides = dict(PointSample=dict(num_points=num_points),
                               Voxelize=dict(voxel_size=voxel_size),
                               DepthToPoints=dict(zip(('min_depth', 'max_depth'),
                                                      depth_range or (None, None))))
        self._test_cfg_overrides = dict(test_cfg or {})
        self.collision_cfg = merge_options(DEFAULT_COLLISION_CFG, collision_cfg,
                                           'collision_cfg')
        self.support_plane_cfg = merge_options(DEFAULT_SUPPORT_PLANE_CFG, support_plane_cfg,
                                               'support_plane_cfg')
        self._weights = weights
        self._timer: Dict[str, float] = {}
        self._num_inputs = 0
        import graspnetAPI  # noqa: F401  (imported here, not during the first call)
        if isinstance(model, (str, os.PathLike)) and not osp.isfile(os.fspath(model)):
            raise FileNotFoundError(f'config file not found: {model}')
        with DefaultScope.overwrite_default_scope(scope or SCOPE):
            super().__init__(model=os.fspath(model) if isinstance(model, os.PathLike)
                             else model, weights=weights, device=device or 'cpu',
                             scope=scope or SCOPE, show_progress=show_progress)

    # ------------------------------------------------------------------ model
    def _init_model(self, cfg: Union[Config, ConfigDict], weights: Optional[str],
                    device: str = 'cpu') -> torch.nn.Module:
        checkpoint = None if weights is None else load_checkpoint_file(weights, 'cpu')
        if not cfg:
            if checkpoint is None:
                raise ValueError('GraspInferencer needs a config, or a checkpoint that '
                                 'embeds its config')
            # parsed as data, never executed (a checkpoint is untrusted input)
            cfg.update(config_from_checkpoint(checkpoint, f'checkpoint {weights}')._cfg_dict)
        if 'model' not in cfg:
            raise KeyError('the config has no `model` entry')
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.pop('pretrained', None)
        model_cfg.pop('init_cfg', None)  # the checkpoint provides every weight
        if isinstance(model_cfg.get('backbone'), Mapping):
            model_cfg['backbone'].pop('init_cfg', None)
        with DefaultScope.overwrite_default_scope(SCOPE):
            model = MODELS.build(model_cfg)
        from graspcontrast_mm.models.detectors import GSNet
        if not (isinstance(model, GSNet) or getattr(model, 'predicts_grasps', False)):
            raise TypeError(
                f'the model of {"the checkpoint" if weights else "the config"} is a '
                f'{type(model).__name__}, not a grasp detector (GSNet): a pre-training '
                'checkpoint cannot predict grasps; use a fine-tuned GSNet checkpoint (and '
                'its config)')
        if self._test_cfg_overrides:
            if not isinstance(getattr(model, 'test_cfg', None), dict):
                raise ValueError('test_cfg overrides given but the model has no test_cfg')
            model.test_cfg.update(merge_options(model.test_cfg, self._test_cfg_overrides,
                                                'test_cfg'))
        model.cfg = cfg
        if checkpoint is not None:
            load_model_checkpoint(model, checkpoint, strict=self._strict,
                                  source=f'checkpoint {weights}')
        else:
            warnings.warn('GraspInferencer: no checkpoint given, the model has random '
                          'weights')
        model.to(device).eval()
        backbone = getattr(model, 'backbone', None)
        if isinstance(backbone, torch.nn.Module):  # backbone / heads timings
            backbone.register_forward_pre_hook(
                lambda *_: self._timer.__setitem__('backbone_start', self.clock()))
            backbone.register_forward_hook(lambda *_: self._timer.__setitem__(
                'backbone', self.clock() - self._timer.pop('backbone_start', self.clock())))
        return model

    def _init_visualizer(self, cfg) -> GraspVisualizer:
        """The config's ``visualizer`` (a :class:`GraspVisualizer` by default), drawing
        into memory: the Inferencer writes the pictures itself."""
        vis = dict(cfg.get('visualizer') or dict(type='GraspVisualizer'))
        vis.update(vis_backends=None, save_dir=None,
                   name=f"{vis.get('name', 'visualizer')}-inferencer-{id(self)}")
        with DefaultScope.overwrite_default_scope(SCOPE):
            visualizer = VISUALIZERS.build(vis)
        if not isinstance(visualizer, GraspVisualizer):
            raise TypeError(f'the config\'s visualizer must be a GraspVisualizer, got '
                            f'{type(visualizer).__name__}')
        return visualizer

    def _init_collate(self, cfg) -> Any:
        return lambda batch: dict(inputs=[b['inputs'] for b in batch],
                                  data_samples=[b['data_samples'] for b in batch])

    # ------------------------------------------------------------------ pipeline
    def _init_pipeline(self, cfg) -> Any:
        pipeline, source = find_test_pipeline(cfg)
        channels = getattr(getattr(self.model, 'backbone', None), 'in_channels', None)
        pipeline, source = complete_pipeline(pipeline, channels, source)
        for t in pipeline:
            t.update({k: v for k, v in self._overrides.get(type_name(t), {}).items()
                      if v is not None})
        with DefaultScope.overwrite_default_scope(SCOPE):
            self.pipelines = {kind: kind_pipeline(pipeline, kind, self.max_workspace_distance)
                              for kind in ('depth', 'points', 'graspnet')}
        steps = {type(t): t for t in self.pipelines['graspnet'].transforms}
        vox, d2p = steps[Voxelize], steps[DepthToPoints]
        if channels is not None and Voxelize.FEAT_CHANNELS[vox.feat_mode] != channels:
            raise ValueError(f'Voxelize(feat_mode={vox.feat_mode!r}) gives '
                             f'{Voxelize.FEAT_CHANNELS[vox.feat_mode]} feature channels but '
                             f'the backbone expects {channels}')
        crop = steps.get(ObjectWorkspaceCrop)
        self.settings = dict(num_points=steps[PointSample].num_points,
                             voxel_size=vox.voxel_size,
                             depth_range=(d2p.min_depth, d2p.max_depth),
                             object_crop_margin=None if crop is None else crop.margin)
        self.settings_source = source
        return self._load_input

    def preprocess(self, inputs: list, batch_size: int = 1, intrinsics: Any = None,
                   depth_scale: Optional[float] = None, mask: Any = None,
                   seed: Optional[int] = 0, support_plane: bool = False, **kwargs):
        """Load and pack the inputs; yields batches of ``batch_size`` for :meth:`forward`.

        ``intrinsics`` / ``depth_scale`` / ``mask``: defaults of depth inputs. ``seed``:
        numpy's global RNG while an input runs through the pipeline (None: as it is).
        ``support_plane``: scene-aware inference for depth inputs (off by default): fit the
        support plane (:func:`~.grasp_selection.fit_support_plane`, whole image, mask
        ignored) and drop grasps not higher than ``support_plane_cfg['min_height']`` above.
        """
        defaults = dict(intrinsics=intrinsics, depth_scale=depth_scale, mask=mask,
                        seed=seed, support_plane=bool(support_plane))
        start = self._num_inputs
        self._num_inputs += len(inputs)
        items = ((start + i, item, defaults) for i, item in enumerate(inputs))
        for chunk in self._get_chunk_data(map(self.pipeline, items), batch_size):
            yield self.collate_fn(chunk)

    def _load_input(self, args: tuple) -> dict:
        """One input -> packed model input + data sample with the scene and metainfo."""
        index, item, defaults = args
        t0 = self.clock()
        kind, results, desc, name = normalize_input(item, index, defaults)
        opts = item if isinstance(item, Mapping) else {}
        results, packed = load_input(self.pipelines[kind], kind, results, desc,
                                     f'input {index}', opts.get('seed', defaults['seed']))
        ds = packed['data_samples']
        plane = None
        if kind == 'depth' and opts.get('support_plane', defaults['support_plane']):
            plane = fit_support_plane(results['depth_raw'].astype(np.float64) /
                                      results['depth_scale'], results['cam_intrinsic'],
                                      self.settings['depth_range'], self.support_plane_cfg)
        K = results.get('cam_intrinsic')
        ds.set_metainfo(dict(
            input_index=int(index), input_name=str(name), input_desc=desc,
            support_plane=plane, depth_shape=results.get('depth_shape'),
            num_scene_points=int(len(ds.scene_points)),
            num_sampled_points=int(len(results['points'])),
            num_voxels=int(len(results['coords'])),
            intrinsics=None if K is None else np.asarray(K, np.float64).tolist(),
            timings={'preprocess': self.clock() - t0}))
        return packed

    # ------------------------------------------------------------------ forward
    @torch.no_grad()
    def forward(self, inputs: dict, top_k: Optional[int] = None,
                score_thr: Optional[float] = None,
                collision_filter: bool = True, **kwargs) -> list:
        """The model (decoding and NMS: its ``test_cfg``), then
        :func:`~.grasp_selection.select_grasps` once per sample: the collision filter
        (``collision_filter``, ``collision_cfg``), the support plane, ``score_thr`` and
        ``top_k`` (None: all). Returns the data samples with ``pred_grasps`` float32
        (K, 17), camera frame, and the counts and timings in their metainfo."""
        if top_k is not None and int(top_k) < 1:
            raise ValueError(f'top_k must be >= 1 or None, got {top_k}')
        self._timer.pop('backbone', None)
        t0 = self.clock()
        preds = self.model.test_step(inputs)
        t_model = self.clock() - t0
        t_backbone = self._timer.pop('backbone', float('nan'))
        n = max(len(preds), 1)
        t_nms = sum(float(ds.metainfo.get('nms_time', 0.0)) for ds in preds
                    if hasattr(ds, 'metainfo'))
        for ds in preds:
            if not hasattr(ds, 'pred_grasps'):
                raise TypeError(f'{type(self.model).__name__} returned no pred_grasps; the '
                                'config must describe a grasp detector (GSNet)')
            t1 = self.clock()
            meta = ds.metainfo
            rows = np.asarray(ds.pred_grasps, np.float32).reshape(-1, GRASP_ARRAY_LEN)
            grasps, stats = select_grasps(
                rows, ds.scene_points,
                collision_cfg=self.collision_cfg if collision_filter else None,
                support_plane=meta.get('support_plane'),
                min_height=self.support_plane_cfg['min_height'], score_thr=score_thr,
                top_k=top_k, clock=self.clock)
            ds.pred_grasps = grasps
            nms_time = float(meta.get('nms_time', 0.0))
            num_model = int(meta.get('num_grasps_before_nms', rows.shape[0]))
            timings = dict(meta.get('timings', {}))
            timings.update(model=(t_model - t_nms) / n, backbone=t_backbone / n,
                           heads=(t_model - t_backbone - t_nms) / n, nms=nms_time,
                           collision_filter=stats['collision_time'],
                           postprocess=nms_time + self.clock() - t1)
            ds.set_metainfo(dict(
                timings=timings, num_grasps_model=num_model, num_grasps_nms=len(rows),
                num_collisions=stats['num_collisions'],
                num_below_support_plane=stats['num_below_support_plane'],
                num_graspable=meta.get('num_graspable'),
                collision_filter=bool(collision_filter), top_k=top_k, score_thr=score_thr))
            if grasps.shape[0] == 0:
                below = ('' if stats['num_below_support_plane'] is None else
                         f", {stats['num_below_support_plane']} on or below the support "
                         'plane')
                print_log(f"GraspInferencer: no grasp left for {meta['input_name']} "
                          f"({num_model} from the model, {len(rows)} after NMS, "
                          f"{stats['num_collisions']} in collision{below})",
                          logger='current', level=30)
        return preds

    # ------------------------------------------------------------------ outputs
    def visualize(self, inputs: list, preds: list, return_vis: bool = False,
                  img_out_dir: str = '', view: str = 'camera',
                  image_size: Optional[Tuple[int, int]] = None,
                  max_grasps_drawn: Optional[int] = 50, **kwargs) -> Optional[list]:
        """Pictures of the grasps (blue = low score, red = high): ``view='camera'`` (the
        sensor's viewpoint; a virtual camera at the sensor without ``K``) or ``'oblique'``;
        ``image_size`` ``(W, H)`` (default: the depth image's, at most 960 px); the best
        ``max_grasps_drawn``. Written to ``img_out_dir/NAME.png`` when given; uint8
        (H, W, 3) RGB pictures returned with ``return_vis``."""
        if not return_vis and not img_out_dir:
            return None
        out = []
        for ds in preds:
            t0 = self.clock()
            meta = ds.metainfo
            K = meta.get('intrinsics')
            K_size = None
            if K is not None and meta.get('depth_shape') is not None:
                h, w = meta['depth_shape'][:2]
                K_size = (int(w), int(h))
            size = image_size
            if size is None and K is not None and view == 'camera' and K_size is not None:
                scale = min(1.0, 960.0 / max(K_size))
                size = (int(round(K_size[0] * scale)), int(round(K_size[1] * scale)))
            path = osp.join(img_out_dir, f"{meta['input_name']}.png") if img_out_dir else None
            image = self.visualizer.add_datasample(
                meta['input_name'], data_sample=ds, out_file=path,
                colors=getattr(ds, 'scene_colors', None), K=K, image_size=size, view=view,
                K_image_size=K_size, max_grasps=max_grasps_drawn)
            files = {'picture': path} if path else {}
            timings = dict(meta.get('timings', {}))
            timings['picture'] = self.clock() - t0
            ds.set_metainfo(dict(timings=timings,
                                 files={**meta.get('files', {}), **files}))
            out.append(image)
        return out if return_vis else None

    def postprocess(self, preds: list, visualization: Optional[list] = None,
                    return_datasample: bool = False, pred_out_dir: str = '',
                    print_result: bool = False, **kwargs) -> dict:
        """``{'predictions': GraspGroups (data samples with return_datasample),
        'visualization', 'summaries'}``; ``pred_out_dir``: write ``NAME.npy`` (rows,
        atomic) and ``NAME.json`` (summary); ``print_result``: print the best grasps."""
        from graspnetAPI import GraspGroup
        groups, summaries = [], []
        for ds in preds:
            meta = ds.metainfo
            grasps = np.asarray(ds.pred_grasps, np.float32).reshape(-1, GRASP_ARRAY_LEN)
            files = dict(meta.get('files', {}))
            name = meta['input_name']
            if pred_out_dir:
                files['grasps'] = save_grasps_npy(osp.join(pred_out_dir, f'{name}.npy'),
                                                  grasps)
                files['summary'] = osp.join(pred_out_dir, f'{name}.json')
            summary = grasp_summary(meta, grasps, files, checkpoint=self._weights,
                                    preprocessing=dict(
                                        source=self.settings_source,
                                        **{k: self.settings[k] for k in
                                           ('num_points', 'voxel_size', 'depth_range')}))
            if pred_out_dir:
                write_json(files['summary'], summary)
            if print_result:
                print(self.format_grasps(grasps, title=f'{name}: {grasps.shape[0]} grasps'))
            groups.append(GraspGroup(grasps.astype(np.float64)))
            summaries.append(summary)
        return dict(predictions=list(preds) if return_datasample else groups,
                    visualization=visualization, summaries=summaries)

    #: Text table of the best grasps (:func:`~.grasp_outputs.format_grasps`).
    format_grasps = staticmethod(format_grasps)

    # ------------------------------------------------------------------ call
    def __call__(self, inputs: Any, return_datasamples: bool = False, batch_size: int = 1,
                 out_dir: str = '', **kwargs) -> dict:
        """Detect grasps on one input or a list (see the class docstring).

        ``out_dir``: write ``out_dir/preds/NAME.npy`` (grasp rows), ``NAME.json`` (summary:
        input, counts, top scores, timings) and ``out_dir/vis/NAME.png`` (picture).
        ``kwargs``: those of :meth:`preprocess` (``intrinsics``, ``depth_scale``, ``mask``,
        ``seed``, ``support_plane``), :meth:`forward` (``top_k``, ``score_thr``,
        ``collision_filter``), :meth:`visualize` and :meth:`postprocess`.
        """
        if out_dir:
            kwargs.setdefault('img_out_dir', osp.join(out_dir, 'vis'))
            kwargs.setdefault('pred_out_dir', osp.join(out_dir, 'preds'))
        if isinstance(inputs, (list, tuple)) and len(inputs) == 0:
            raise ValueError('GraspInferencer got an empty list of inputs')
        return super().__call__(inputs, return_datasamples=return_datasamples,
                                batch_size=batch_size, **kwargs)

    def _inputs_to_list(self, inputs: Any) -> list:
        if isinstance(inputs, (list, tuple)):
            return list(inputs)
        return [inputs]
