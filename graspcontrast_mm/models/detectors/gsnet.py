"""GSNet 6-DoF grasp detector (Wang et al., ICCV 2021, "Graspness discovery in clutters")."""
import logging
import math
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from graspcontrast_mm.models.heads.grasp_geometry import approach_to_rotation, template_views
from graspcontrast_mm.models.heads.gsnet_decode import (decode_grasps, empty_grasps,
                                                        postprocess_grasps)
from graspcontrast_mm.models.heads.gsnet_heads import ApproachViewHead
from graspcontrast_mm.models.heads.gsnet_labels import (check_grasp_labels,
                                                        friction_to_score_target,
                                                        labels_to_template_frame,
                                                        process_view_labels)
from graspcontrast_mm.ops import index_rows
from graspcontrast_mm.registry import MODELS
from graspcontrast_mm.structures.grasp import GRASP_MAX_WIDTH, transform_grasp_array
from graspcontrast_mm.structures.gripper_collision import reference_collision_mask
from graspcontrast_mm.structures.points import farthest_point_sample

__all__ = ['GSNet']

_DEFAULT_TRAIN_CFG = dict(view_mu_thresh=0.6, max_width=GRASP_MAX_WIDTH, score_mu_range=None,
                          sample_views=True, frame_consistent=False)
_DEFAULT_TEST_CFG = dict(nms=True, nms_translation_thresh=0.03, nms_rotation_thresh_deg=30.0,
                         score_thr=None, max_num=None, width_factor=1.2,
                         to_camera_frame=True, empty_if_no_graspable=True,
                         collision_thresh=-1.0, collision_voxel_size=0.01,
                         collision_approach_dist=0.05)
_INPUT_KEYS = ('coords', 'feats', 'batch_size', 'points', 'point2voxel')


def _build(cfg: Union[dict, nn.Module, None]) -> Optional[nn.Module]:
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    return MODELS.build(cfg)


def _with_in_channels(cfg: Union[dict, nn.Module], channels: int) -> Union[dict, nn.Module]:
    if isinstance(cfg, Mapping):
        cfg = dict(cfg)
        cfg.setdefault('in_channels', channels)
    return cfg


@MODELS.register_module()
class GSNet(BaseModel):
    """GSNet: sparse UNet -> graspable points -> seeds -> views -> cylinder crop -> SWAD.

    Pipeline (per sample, single view, camera frame, metres):

    1. The backbone gives a ``C``-d feature per voxel; every point takes the feature of its
       voxel (``point2voxel``).
    2. :class:`GraspableHead`: 2 objectness logits + graspness per point.
    3. Seeds: the points with ``argmax(objectness) == 1`` and ``graspness >
       graspness_threshold`` (0.1), reduced to ``num_seeds`` (1024) by farthest point
       sampling (Open3D, first sample = the first candidate). With ``0 < n < num_seeds``
       candidates all of them are used and repeated cyclically to ``num_seeds`` rows; with
       no candidate the ``num_seeds`` points of highest predicted graspness (any
       objectness) are used instead, so training is defined from the first step. In
       ``predict`` repeated seeds are decoded once, and a sample without candidates
       returns no grasps (``test_cfg.empty_if_no_graspable``).
    4. :class:`ApproachViewHead`: scores of the 300 views per seed; its residual is added
       to the seed features. Training draws the view of every seed from its min-max
       normalised scores (``train_cfg.sample_views``; else argmax); testing takes the
       argmax.
    5. :class:`CylinderCropHead`: groups the seeds inside each seed's gripper-aligned
       cylinder. The gripper frame is, in training, the frame of the ground-truth object
       view assigned to the selected camera view (object rotation x view rotation, see
       :func:`process_view_labels`), as the reference; in testing, the template view's
       frame at angle 0. With ``train_cfg.frame_consistent`` training crops in the
       template view's frame too and re-expresses the score / width targets in it
       (:func:`labels_to_template_frame`: angle axis rolled by the in-plane offset
       rounded to the 180 / A degree grid), so that training and decoding share one
       frame.
    6. :class:`SWADHead`: score and width of 12 angles x 4 depths per seed.

    Input contract (after :class:`SparsePairDataPreprocessor` in single-view mode); each
    packed sample (``PackPointsInputs``) has ``points`` float32 (N, 3) camera frame (after
    augmentation), ``coords`` int32 (V, 3), ``feats`` float32 (V, C_in) (ones), and
    ``point2voxel`` int64 (N,); the preprocessor gives ``coords`` (sumV, 4), ``feats``
    (sumV, C_in), ``batch_size``, ``points`` (list of (N_b, 3)) and ``point2voxel`` (list
    of (N_b,) global voxel rows).

    Training labels (``'loss'`` mode): per data sample, a field ``gt_grasp_labels`` (a
    :class:`BaseDataElement` from :func:`pack_grasp_labels`, or a dict; also accepted in
    ``metainfo['gt_grasp_labels']``) with

    - ``objectness_label`` int64 (N,) {0, 1} per point;
    - ``graspness_label`` float32 (N,) in [0, 1] per point;
    - ``object_poses`` float32 (K, 3, 4) ``T_cam_obj`` in the frame of ``points``;
    - ``grasp_points`` list of K (Np_k, 3), object frame, metres;
    - ``grasp_widths`` list of K (Np_k, 300, 12, 4), metres;
    - ``grasp_scores`` list of K (Np_k, 300, 12, 4): friction ``mu`` of valid,
      collision-free grasps, 0 otherwise (:func:`grasp_labels_to_targets`).

    ``objectness_label`` / ``graspness_label`` may instead come as per-point inputs
    (``PackPointsInputs(extra_input_keys=...)``).

    Modes of :meth:`forward`:

    - ``'loss'``: ``loss_objectness``, ``loss_graspness``, ``loss_view``, ``loss_score``,
      ``loss_width`` (weighted) plus logged ``graspable_count`` (mean candidates per
      sample) and ``objectness_acc``.
    - ``'predict'``: the data samples with ``pred_grasps``: float32 numpy (K, 17)
      graspnetAPI rows in the camera frame (the inverse of ``metainfo['aug_mat']`` is
      applied when present; a reflection is turned into the equivalent proper gripper
      rotation by negating its z axis), after the optional test-time collision detection,
      NMS, score threshold and top-k (``test_cfg``), sorted by score (descending);
      ``(0, 17)`` when there are none. The metainfo gets ``num_graspable`` (graspness-gate
      candidates), ``num_grasps_before_nms`` and ``nms_time`` (seconds of the NMS step).
    - ``'tensor'``: a dict of the test-mode head outputs (see :meth:`forward_heads`).

    Args:
        backbone: sparse backbone config/module, ``forward(feats, coords, batch_size)``
            with an ``out_channels`` attribute (default: ``SparseUNet``, GSNet's
            MinkUNet14D plan with 3 input channels (ones) and 512 outputs).
        graspable_head, approach_head, crop_head, swad_head: head configs/modules
            (defaults: the reference widths); a dict without ``in_channels`` takes the
            backbone's (the crop head's output width for ``swad_head``).
        loss: loss config/module (default :class:`GSNetLoss`, reference weights).
        num_seeds: seeds per sample ``M`` (1024).
        graspness_threshold: graspness above which an object point is a candidate (0.1).
        train_cfg: ``view_mu_thresh`` (0.6), ``max_width`` (0.1 m), ``score_mu_range``
            (None: batch min / max as the reference), ``sample_views`` (True),
            ``frame_consistent`` (False: the reference's label-frame crop and targets;
            True: template-frame crop and targets, as decoded at test time).
        test_cfg: ``nms`` (True), ``nms_translation_thresh`` (0.03 m),
            ``nms_rotation_thresh_deg`` (30), ``score_thr`` (None), ``max_num`` (None),
            ``width_factor`` (1.2), ``to_camera_frame`` (True), ``empty_if_no_graspable``
            (True), and the reference's test-time collision detection:
            ``collision_thresh`` (-1: off, the reference's published protocol; > 0, e.g.
            the reference's 0.01: drop the grasps whose
            :func:`~graspcontrast_mm.structures.reference_collision_iou` exceeds it),
            ``collision_voxel_size`` (0.01 m) and ``collision_approach_dist`` (0.05 m).
            The scene cloud is ``data_sample.scene_points`` (camera frame; the
            workspace cloud before sampling, see ``KeepScenePoints``; the Inferencer sets
            it) or, when absent, the sample's input points. Detection runs before NMS,
            as in the reference (whose evaluation applies NMS afterwards).
        data_preprocessor: default ``SparsePairDataPreprocessor``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module, None] = None,
                 graspable_head: Union[dict, nn.Module, None] = None,
                 approach_head: Union[dict, nn.Module, None] = None,
                 crop_head: Union[dict, nn.Module, None] = None,
                 swad_head: Union[dict, nn.Module, None] = None,
                 loss: Union[dict, nn.Module, None] = None,
                 num_seeds: int = 1024,
                 graspness_threshold: float = 0.1,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SparsePairDataPreprocessor')
        super().__init__(data_preprocessor=_build(data_preprocessor), init_cfg=init_cfg)
        self.backbone = _build(backbone if backbone is not None else dict(
            type='SparseUNet', in_channels=3, out_channels=512))
        c = getattr(self.backbone, 'out_channels', None)
        if c is None:
            raise ValueError('the backbone needs an out_channels attribute')
        self.graspable_head = _build(_with_in_channels(
            graspable_head or dict(type='GraspableHead'), c))
        self.approach_head = _build(_with_in_channels(
            approach_head or dict(type='ApproachViewHead'), c))
        self.crop_head = _build(_with_in_channels(
            crop_head or dict(type='CylinderCropHead'), c))
        self.swad_head = _build(_with_in_channels(
            swad_head or dict(type='SWADHead'), self.crop_head.out_channels))
        self.loss_module = _build(loss if loss is not None else dict(type='GSNetLoss'))
        for name in ('graspable_head', 'approach_head', 'crop_head'):
            if getattr(self, name).in_channels != c:
                raise ValueError(f'{name}.in_channels = {getattr(self, name).in_channels} '
                                 f'but the backbone gives {c} channels')
        if self.swad_head.in_channels != self.crop_head.out_channels:
            raise ValueError(f'swad_head.in_channels = {self.swad_head.in_channels} but '
                             f'the crop head gives {self.crop_head.out_channels}')
        if int(num_seeds) < 1:
            raise ValueError(f'num_seeds must be >= 1, got {num_seeds}')
        self.num_seeds = int(num_seeds)
        self.graspness_threshold = float(graspness_threshold)
        self.train_cfg = {**_DEFAULT_TRAIN_CFG, **dict(train_cfg or {})}
        self.test_cfg = {**_DEFAULT_TEST_CFG, **dict(test_cfg or {})}
        self.register_buffer('views', template_views(self.approach_head.num_views),
                             persistent=False)

    # ------------------------------------------------------------------ stages
    @staticmethod
    def _check_inputs(inputs: Mapping) -> None:
        if not isinstance(inputs, Mapping):
            raise TypeError(f'inputs must be the dict of SparsePairDataPreprocessor, got '
                            f'{type(inputs).__name__}')
        missing = [k for k in _INPUT_KEYS if k not in inputs]
        if missing:
            raise KeyError(f'inputs lack {missing}; were they batched by '
                           'SparsePairDataPreprocessor (single-view samples)?')
        if len(inputs['points']) != len(inputs['point2voxel']) \
                or len(inputs['points']) != int(inputs['batch_size']):
            raise ValueError(f"inputs hold {len(inputs['points'])} point clouds, "
                             f"{len(inputs['point2voxel'])} point2voxel maps and "
                             f"batch_size {inputs['batch_size']}")
        for b, (pts, p2v) in enumerate(zip(inputs['points'], inputs['point2voxel'])):
            if pts.dim() != 2 or pts.shape[1] != 3 or pts.shape[0] == 0:
                raise ValueError(f'sample {b}: points must be (N, 3) with N > 0, got '
                                 f'{tuple(pts.shape)}')
            if p2v.shape != pts.shape[:1]:
                raise ValueError(f'sample {b}: point2voxel {tuple(p2v.shape)} does not '
                                 f'match points {tuple(pts.shape)}')

    def extract_point_feats(self, inputs: Mapping) -> List[Tensor]:
        """Backbone features of every point.

        Args:
            inputs: batched inputs (see the class docstring).

        Returns:
            list: ``B`` tensors ``(N_b, C)``.
        """
        self._check_inputs(inputs)
        feats = self.backbone(inputs['feats'], inputs['coords'], int(inputs['batch_size']))
        return [index_rows(feats, p2v) for p2v in inputs['point2voxel']]

    @torch.no_grad()
    def select_seeds(self, points: Tensor, objectness_logits: Tensor,
                     graspness: Tensor) -> Tuple[Tensor, int]:
        """Seed indices of one sample (see step 3 of the class docstring).

        Args:
            points: ``(N, 3)`` points, metres.
            objectness_logits: ``(N, 2)``.
            graspness: ``(N,)``.

        Returns:
            tuple: int64 ``(num_seeds,)`` point indices, and the number of candidates
            (graspable points) before sampling.
        """
        m = self.num_seeds
        mask = (objectness_logits.argmax(dim=1) == 1) & (graspness > self.graspness_threshold)
        cand = torch.nonzero(mask).flatten()
        n = int(cand.numel())
        if n >= m:
            sel = farthest_point_sample(points[cand].detach().cpu().double().numpy(), m)
            sel = torch.as_tensor(sel, device=cand.device)
            if sel.numel() < m:  # fewer distinct candidates (repeated points): cycle
                sel = sel[torch.arange(m, device=cand.device) % sel.numel()]
            idx = cand[sel]
        elif n > 0:
            idx = cand[torch.arange(m, device=cand.device) % n]
        else:
            k = min(m, graspness.shape[0])
            top = torch.topk(graspness.detach(), k).indices
            idx = top[torch.arange(m, device=top.device) % k]
        return idx, n

    def forward_heads(self, inputs: Mapping, point_feats: List[Tensor],
                      data_samples: Optional[Sequence] = None,
                      training: bool = False) -> Dict[str, Any]:
        """Everything after the backbone.

        Args:
            inputs: batched inputs.
            point_feats: output of :meth:`extract_point_feats`.
            data_samples: needed when ``training`` (grasp labels).
            training: training behaviour (sampled views, label-frame crops, targets).

        Returns:
            dict: ``objectness_logits`` / ``graspness`` (lists of ``(N_b, 2)`` / ``(N_b,)``),
            ``num_graspable`` (list of int), ``seed_inds`` int64 ``(B, M)``, ``seed_xyz``
            ``(B, M, 3)``, ``view_scores`` ``(B, M, V)``, ``view_inds`` int64 ``(B, M)``,
            ``rotations`` ``(B, M, 3, 3)`` (crop frames), ``score_pred`` / ``width_pred``
            ``(B, M, A, D)``; with ``training`` also ``view_targets`` ``(B, M, V)``,
            ``score_targets`` / ``width_targets`` (metres) ``(B, M, A, D)``, and the
            per-point ``objectness_label`` / ``graspness_label`` lists.
        """
        sizes = [f.shape[0] for f in point_feats]
        obj_all, grs_all = self.graspable_head(torch.cat(point_feats, dim=0))
        obj_logits = list(torch.split(obj_all, sizes))
        graspness = list(torch.split(grs_all, sizes))
        seed_inds, num_graspable = [], []
        for b, pts in enumerate(inputs['points']):
            idx, n = self.select_seeds(pts, obj_logits[b], graspness[b])
            seed_inds.append(idx)
            num_graspable.append(n)
        seed_inds_t = torch.stack(seed_inds)
        seed_xyz = torch.stack([pts.float()[i] for pts, i in zip(inputs['points'], seed_inds)])
        seed_feats = torch.stack([index_rows(f, i)  # (B, M, C)
                                  for f, i in zip(point_feats, seed_inds)])
        seed_feats = seed_feats.transpose(1, 2).contiguous()
        view_scores, res = self.approach_head(seed_feats)
        seed_feats = seed_feats + res
        out: Dict[str, Any] = dict(objectness_logits=obj_logits, graspness=graspness,
                                   num_graspable=num_graspable, seed_inds=seed_inds_t,
                                   seed_xyz=seed_xyz, view_scores=view_scores)
        if training:
            if self.train_cfg['sample_views']:
                view_inds = ApproachViewHead.sample_views(view_scores)
            else:
                view_inds = ApproachViewHead.best_views(view_scores)
            labels = self._collect_labels(inputs, data_samples, sizes, seed_xyz.device)
            rots, mus, widths, view_targets = [], [], [], []
            for b in range(len(sizes)):
                lab = labels[b]
                seed_lab = process_view_labels(
                    seed_xyz[b], lab['object_poses'], lab['grasp_points'],
                    lab['grasp_scores'], lab['grasp_widths'], self.views, view_inds[b],
                    view_mu_thresh=self.train_cfg['view_mu_thresh'],
                    max_width=self.train_cfg['max_width'],
                    grid_shape=(self.swad_head.num_angles, self.swad_head.num_depths))
                rot, mu, width = seed_lab.rotations, seed_lab.scores, seed_lab.widths
                if self.train_cfg['frame_consistent']:
                    template = approach_to_rotation(-self.views[view_inds[b]])
                    mu, width, _ = labels_to_template_frame(rot, template, mu, width)
                    rot = template
                rots.append(rot)
                mus.append(mu)
                widths.append(width)
                view_targets.append(seed_lab.view_graspness)
            rotations = torch.stack(rots)
            out.update(
                view_targets=torch.stack(view_targets),
                score_targets=friction_to_score_target(torch.stack(mus),
                                                       self.train_cfg['score_mu_range']),
                width_targets=torch.stack(widths),
                objectness_label=[lab['objectness_label'] for lab in labels],
                graspness_label=[lab['graspness_label'] for lab in labels])
        else:
            view_inds = ApproachViewHead.best_views(view_scores)
            rotations = approach_to_rotation(-self.views[view_inds])
        crop = self.crop_head(seed_xyz, seed_feats, rotations)
        score_pred, width_pred = self.swad_head(crop)
        out.update(view_inds=view_inds, rotations=rotations, score_pred=score_pred,
                   width_pred=width_pred)
        return out

    # ------------------------------------------------------------------ labels
    @staticmethod
    def _tag(data_samples: Optional[Sequence], b: int) -> str:
        meta = {}
        if data_samples is not None and b < len(data_samples):
            meta = getattr(data_samples[b], 'metainfo', None) or {}
        parts = [f'{k}={meta[k]}' for k in ('scene_id', 'frame_id', 'sample_idx')
                 if k in meta]
        return f"sample {b} ({', '.join(parts)})" if parts else f'sample {b}'

    def _collect_labels(self, inputs: Mapping, data_samples: Optional[Sequence],
                        sizes: List[int], device) -> List[Dict[str, Any]]:
        if data_samples is None or len(data_samples) != len(sizes):
            raise ValueError('GSNet training needs one data sample with gt_grasp_labels '
                             f'per input sample ({len(sizes)})')
        out = []
        for b, ds in enumerate(data_samples):
            src = getattr(ds, 'gt_grasp_labels', None) if not isinstance(ds, Mapping) \
                else ds.get('gt_grasp_labels')
            if src is None and hasattr(ds, 'metainfo'):
                src = ds.metainfo.get('gt_grasp_labels')
            if src is None:
                raise KeyError(f'{self._tag(data_samples, b)}: no gt_grasp_labels on the '
                               'data sample (see GSNet docstring and pack_grasp_labels)')
            src = dict(src.items()) if hasattr(src, 'items') else dict(src)
            for key in ('objectness_label', 'graspness_label'):
                if src.get(key) is None and key in inputs:
                    src[key] = inputs[key][b]
            out.append(check_grasp_labels(src, sizes[b], device=device,
                                          where=self._tag(data_samples, b)))
        return out

    # ------------------------------------------------------------------ forward
    def forward(self, inputs: dict, data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], list, Dict[str, Any]]:
        """Dispatch on ``mode`` ('loss', 'predict' or 'tensor'); see the class docstring."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.forward_heads(inputs, self.extract_point_feats(inputs))
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def loss(self, inputs: dict,
             data_samples: Optional[List[BaseDataElement]] = None) -> Dict[str, Tensor]:
        """Weighted GSNet losses of a batch (see :class:`GSNetLoss`)."""
        point_feats = self.extract_point_feats(inputs)
        out = self.forward_heads(inputs, point_feats, data_samples, training=True)
        obj_logits = torch.cat(out['objectness_logits'])
        obj_label = torch.cat(out['objectness_label'])
        losses = self.loss_module(
            objectness_logits=obj_logits, objectness_label=obj_label,
            graspness_pred=torch.cat(out['graspness']),
            graspness_label=torch.cat(out['graspness_label']),
            view_scores=out['view_scores'], view_targets=out['view_targets'],
            score_pred=out['score_pred'], score_targets=out['score_targets'],
            width_pred=out['width_pred'], width_targets=out['width_targets'])
        device = obj_logits.device
        losses['graspable_count'] = torch.tensor(
            float(np.mean(out['num_graspable'])), device=device)
        losses['objectness_acc'] = (obj_logits.detach().argmax(1) == obj_label).float().mean()
        return losses

    def _to_camera_frame(self, grasps: np.ndarray, data_sample: Any) -> np.ndarray:
        meta = getattr(data_sample, 'metainfo', None) or {}
        aug = meta.get('aug_mat')
        if aug is None or grasps.shape[0] == 0:
            return grasps
        aug = np.asarray(aug, dtype=np.float64)
        if aug.shape != (4, 4):
            raise ValueError(f'metainfo aug_mat must be 4x4, got {aug.shape}')
        if np.allclose(aug, np.eye(4)):
            return grasps
        out = transform_grasp_array(grasps, np.linalg.inv(aug))
        if np.linalg.det(aug[:3, :3]) < 0:  # mirrored gripper: flip its z axis
            out[:, [6, 9, 12]] *= -1.0
        return out.astype(np.float32)

    def predict(self, inputs: dict,
                data_samples: Optional[List[BaseDataElement]] = None) -> list:
        """Grasps of every sample (see the class docstring for ``pred_grasps``)."""
        point_feats = self.extract_point_feats(inputs)
        out = self.forward_heads(inputs, point_feats)
        batch = len(point_feats)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(batch)]
        if len(data_samples) != batch:
            raise ValueError(f'{batch} samples but {len(data_samples)} data samples')
        cfg = self.test_cfg
        for b, ds in enumerate(data_samples):
            # stage counts for reports: graspness-gate candidates, grasps entering NMS
            ds.set_metainfo(dict(num_graspable=int(out['num_graspable'][b]),
                                 num_grasps_before_nms=0, nms_time=0.0))
            if out['num_graspable'][b] == 0 and cfg['empty_if_no_graspable']:
                ds.pred_grasps = empty_grasps()
                continue
            seeds = out['seed_inds'][b].cpu().numpy()
            _, first = np.unique(seeds, return_index=True)
            keep = torch.as_tensor(np.sort(first), device=out['seed_xyz'].device)
            rows = decode_grasps(out['seed_xyz'][b][keep], out['view_inds'][b][keep],
                                 out['score_pred'][b][keep], out['width_pred'][b][keep],
                                 self.views, width_scale=self.loss_width_scale,
                                 width_factor=cfg['width_factor'])
            grasps = rows.detach().cpu().numpy().astype(np.float32)
            finite = np.isfinite(grasps).all(axis=1)
            if not finite.all():
                print_log(f'GSNet.predict: {self._tag(data_samples, b)}: dropped '
                          f'{int((~finite).sum())} of {finite.size} grasps with non-finite '
                          'values (NaN / inf network outputs)', logger='current',
                          level=logging.WARNING)
                grasps = grasps[finite]
            if cfg['to_camera_frame']:
                grasps = self._to_camera_frame(grasps, ds)
            if cfg.get('collision_thresh', -1) > 0 and grasps.shape[0]:
                scene = self._collision_scene(inputs['points'][b], ds,
                                              camera_frame=cfg['to_camera_frame'])
                grasps = grasps[~reference_collision_mask(
                    grasps, scene, collision_thresh=float(cfg['collision_thresh']),
                    voxel_size=float(cfg['collision_voxel_size']),
                    approach_dist=float(cfg['collision_approach_dist']))]
            t0 = time.perf_counter()
            ds.pred_grasps = postprocess_grasps(
                grasps, nms=cfg['nms'], translation_thresh=cfg['nms_translation_thresh'],
                rotation_thresh=math.radians(cfg['nms_rotation_thresh_deg']),
                score_thr=cfg['score_thr'], max_num=cfg['max_num'])
            ds.set_metainfo(dict(num_grasps_before_nms=int(grasps.shape[0]),
                                 nms_time=time.perf_counter() - t0))
        return list(data_samples)

    def _collision_scene(self, points: Tensor, data_sample: Any,
                         camera_frame: bool) -> np.ndarray:
        """Scene cloud of a sample for collision detection, in the frame of its grasps.

        ``data_sample.scene_points`` (camera frame) when present, else the sample's input
        points (the frame after augmentation, mapped back with ``inv(aug_mat)``).
        """
        meta = getattr(data_sample, 'metainfo', None) or {}
        aug = meta.get('aug_mat')
        aug = None if aug is None else np.asarray(aug, dtype=np.float64)
        scene = getattr(data_sample, 'scene_points', None)
        if scene is not None:
            scene = np.asarray(scene, dtype=np.float64).reshape(-1, 3)
            if not camera_frame and aug is not None:  # grasps stay in the augmented frame
                scene = scene @ aug[:3, :3].T + aug[:3, 3]
            return scene
        scene = points.detach().cpu().double().numpy()
        if camera_frame and aug is not None:
            inv = np.linalg.inv(aug)
            scene = scene @ inv[:3, :3].T + inv[:3, 3]
        return scene

    @property
    def loss_width_scale(self) -> float:
        """Scale of the width regression (``GSNetLoss.width_scale``, 10 by default)."""
        return float(getattr(self.loss_module, 'width_scale', 10.0))

