"""Compare configs leaf by leaf: an experiment config must differ from its base only by
the factor it changes."""
from mmengine.config import Config


def flatten_config(obj, prefix=''):
    """Config / dict -> ``{dotted.key: leaf value}``; lists of dicts are indexed and their
    length recorded under ``<key>.__len__``."""
    if isinstance(obj, Config):
        obj = obj.to_dict()
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten_config(v, f'{prefix}{k}.'))
    elif isinstance(obj, (list, tuple)) and any(isinstance(v, dict) for v in obj):
        out[prefix + '__len__'] = len(obj)
        for i, v in enumerate(obj):
            out.update(flatten_config(v, f'{prefix}{i}.'))
    else:
        out[prefix.rstrip('.')] = obj
    return out


def config_diff(a, b):
    """Dotted keys whose values differ between two configs (missing counts as differing)."""
    fa, fb = flatten_config(a), flatten_config(b)
    missing = object()
    return {k for k in set(fa) | set(fb) if fa.get(k, missing) != fb.get(k, missing)}


def expand_cached(pipeline):
    """A pipeline config with every ``CachedTransforms`` replaced by the transforms it
    wraps (also inside ``ApplyToViews``): what runs, whether cached or not."""
    out = []
    for t in pipeline:
        if t['type'] == 'CachedTransforms':
            out += expand_cached(t['transforms'])
        elif t['type'] == 'ApplyToViews':
            out.append(dict(t, transforms=expand_cached(t['transforms'])))
        else:
            out.append(t)
    return out
