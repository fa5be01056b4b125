"""Version logic of ``tools/setup_env.sh`` (standard library only: it runs before the venv).

Decides, for the CPU mode and the CUDA mode of the set-up, which torch build to install
and from where, which spconv package matches that torch, and how mmcv 2.1.0 is built. The
shell script evaluates the ``shell`` sub-command's output (bash assignments); the other
sub-commands are small helpers of the script.

Facts this relies on (checked against the package registry and PyTorch's wheels):

- The registry's ``torch==2.13.0`` Linux x86_64 wheel is a CUDA 13.0 build
  (``torch.version.cuda == '13.0'``; it pulls the ``nvidia-*-cu13`` libraries). It needs an
  NVIDIA driver for CUDA >= 13.0 (R580 or newer).
- A CUDA 12 machine therefore takes torch 2.13.0 from PyTorch's own index,
  ``https://download.pytorch.org/whl/cu126`` by default (a CUDA 12.6 build runs on any
  CUDA 12 driver through CUDA's minor-version compatibility). Another index can be named.
- spconv 2.3.8 publishes CUDA wheels for Python 3.11 as ``spconv-cu114``, ``-cu118``,
  ``-cu121``, ``-cu124`` and ``-cu126`` only (``-cu113``, ``-cu116``, ``-cu117`` and
  ``-cu120`` stop at 2.3.6; there is no ``-cu128`` or ``-cu13x``). The set-up takes the
  newest one not newer than both torch's CUDA version and the driver's.
- mmcv 2.1.0 is a source tarball only. Its ``setup.py`` compiles the CUDA ops when
  ``FORCE_CUDA=1`` (``MMCV_WITH_OPS=1``); torch's extension builder refuses an ``nvcc``
  whose major version differs from ``torch.version.cuda``'s (a minor difference only
  warns).

Usage (what the set-up script runs)::

    python3 tools/setup_plan.py shell --mode cpu
    python3 tools/setup_plan.py shell --mode cuda --nvcc-text "$(nvcc --version)" \\
        --smi-text "$(nvidia-smi)" [--torch-index URL]
    python3 tools/setup_plan.py shell --mode cuda --assume-cuda 12.6      # dry runs
    python3 tools/setup_plan.py spconv --torch-cuda 13.0 --driver-cuda 13.0
    python3 tools/setup_plan.py requirements requirements/runtime.txt --drop spconv
    python3 tools/setup_plan.py conflicts --keep spconv-cu126 < pip-freeze-output
    python3 tools/setup_plan.py probe https://download.pytorch.org/whl/cpu/torch/
"""
import argparse
import re
import shlex
import sys
import urllib.request
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

Version = Tuple[int, int]

TORCH_VERSION = '2.13.0'
MMCV_VERSION = '2.1.0'
SPCONV_VERSION = '2.3.8'
#: CUDA version of the registry's torch 2.13.0 Linux wheel.
REGISTRY_TORCH_CUDA: Version = (13, 0)
#: CUDA versions of the published ``spconv-cuXYZ==2.3.8`` wheels for CPython 3.11.
SPCONV_CUDA_BUILDS: Tuple[Version, ...] = ((11, 4), (11, 8), (12, 1), (12, 4), (12, 6))
PYTORCH_INDEX = 'https://download.pytorch.org/whl'
PYTORCH_CPU_INDEX = f'{PYTORCH_INDEX}/cpu'
#: Default PyTorch index for machines with a CUDA 12 toolkit.
CUDA12_TORCH_INDEX = f'{PYTORCH_INDEX}/cu126'
#: Seconds the CPU mode waits for PyTorch's CPU index before using the registry.
PROBE_TIMEOUT_S = 5.0


class PlanError(Exception):
    """The machine cannot get the tested stack as it is; the message says why."""


class SpconvChoice(NamedTuple):
    package: str          # e.g. 'spconv-cu126'
    build: Version        # CUDA version of that wheel
    wanted: Version       # CUDA version it was chosen for
    exact: bool           # a wheel for exactly ``wanted`` exists

    @property
    def note(self) -> str:
        if self.exact:
            return f'{self.package} (built for CUDA {fmt(self.build)}, an exact match)'
        return (f'{self.package} (no spconv {SPCONV_VERSION} wheel for CUDA '
                f'{fmt(self.wanted)}; the nearest older one, built for CUDA '
                f'{fmt(self.build)})')


class TorchSource(NamedTuple):
    spec: str                 # pip requirement
    index_args: Tuple[str, ...]
    cuda: Optional[Version]   # CUDA version of the build (None: CPU build)
    where: str                # human-readable origin


def fmt(version: Version) -> str:
    return f'{version[0]}.{version[1]}'


def parse_version(text: str) -> Version:
    """``'12.6'`` / ``'12.6.3'`` / ``'12'`` -> ``(12, 6)`` / ``(12, 6)`` / ``(12, 0)``."""
    m = re.fullmatch(r'\s*(\d+)(?:\.(\d+))?(?:\.\d+)*\s*', str(text))
    if not m:
        raise PlanError(f'not a CUDA version: {text!r} (expected e.g. 12.6)')
    return int(m.group(1)), int(m.group(2) or 0)


def parse_nvcc_version(text: str) -> Version:
    """CUDA toolkit version from ``nvcc --version`` output."""
    m = re.search(r'release\s+(\d+)\.(\d+)', text or '')
    if not m:
        raise PlanError('could not read the CUDA version from `nvcc --version`:\n'
                        + (text or '(no output)').strip())
    return int(m.group(1)), int(m.group(2))


def parse_driver_cuda(text: str) -> Version:
    """Highest CUDA version the driver supports, from ``nvidia-smi`` output."""
    m = re.search(r'CUDA Version\s*:\s*(\d+)\.(\d+)', text or '')
    if not m:
        raise PlanError('could not read "CUDA Version" from `nvidia-smi` (is the NVIDIA '
                        'driver loaded?):\n' + (text or '(no output)').strip()[:2000])
    return int(m.group(1)), int(m.group(2))


def cuda_tag(version: Version) -> str:
    """``(12, 6)`` -> ``'cu126'``."""
    return f'cu{version[0]}{version[1]}'


def parse_cuda_tag(tag: str) -> Version:
    """``'cu126'`` -> ``(12, 6)``, ``'cu130'`` -> ``(13, 0)``, ``'cu118'`` -> ``(11, 8)``."""
    m = re.fullmatch(r'cu(\d{2,3})', tag)
    if not m:
        raise PlanError(f'not a CUDA wheel tag: {tag!r} (expected e.g. cu126)')
    digits = m.group(1)
    return int(digits[:-1]), int(digits[-1])


def spconv_package(torch_cuda: Version, driver_cuda: Optional[Version] = None
                   ) -> SpconvChoice:
    """The ``spconv-cuXYZ`` package for a torch CUDA build (and driver).

    The wheel chosen is the newest published one whose CUDA version is not newer than
    ``torch_cuda`` nor than ``driver_cuda`` (when given).

    Raises:
        PlanError: no spconv wheel is old enough.
    """
    wanted = torch_cuda if driver_cuda is None else min(torch_cuda, driver_cuda)
    usable = [b for b in SPCONV_CUDA_BUILDS if b <= wanted]
    if not usable:
        raise PlanError(f'spconv {SPCONV_VERSION} has no CUDA wheel for CUDA '
                        f'{fmt(wanted)} or older (oldest: {fmt(SPCONV_CUDA_BUILDS[0])})')
    build = usable[-1]
    return SpconvChoice(f'spconv-{cuda_tag(build)}', build, wanted, build == wanted)


def torch_index_cuda(index_url: str) -> Version:
    """CUDA version of a PyTorch wheel index from its last path part (``.../cu128``)."""
    tag = index_url.rstrip('/').rsplit('/', 1)[-1]
    try:
        return parse_cuda_tag(tag)
    except PlanError:
        raise PlanError(f'cannot tell the CUDA version of the torch index {index_url!r}: '
                        'its last path part must be a tag such as cu126 or cu128') from None


def torch_source_cuda(toolkit: Version, driver: Version,
                      index_url: Optional[str] = None) -> TorchSource:
    """Where the CUDA mode takes torch 2.13.0 from, checked against the machine.

    Args:
        toolkit: CUDA version of ``nvcc`` (builds mmcv's CUDA ops).
        driver: highest CUDA version the driver supports (``nvidia-smi``).
        index_url: a PyTorch wheel index to use instead of the default choice.

    Raises:
        PlanError: this toolkit / driver cannot run or build against the torch build.
    """
    if index_url:
        cuda = torch_index_cuda(index_url)
        source = TorchSource(f'torch=={TORCH_VERSION}+{cuda_tag(cuda)}',
                             ('--index-url', index_url), cuda, index_url)
    elif toolkit[0] == REGISTRY_TORCH_CUDA[0]:
        # '===' matches the registry's plain '2.13.0' only, never a local '+cpu' file
        # that a find-links folder may offer under the same version number.
        source = TorchSource(f'torch==={TORCH_VERSION}', (), REGISTRY_TORCH_CUDA,
                             'the package registry')
    elif toolkit[0] == 12:
        cuda = torch_index_cuda(CUDA12_TORCH_INDEX)
        source = TorchSource(f'torch=={TORCH_VERSION}+{cuda_tag(cuda)}',
                             ('--index-url', CUDA12_TORCH_INDEX), cuda, CUDA12_TORCH_INDEX)
    else:
        raise PlanError(
            f'nvcc is CUDA {fmt(toolkit)}: the set-up installs torch {TORCH_VERSION} as a '
            'CUDA 12 or CUDA 13 build, and mmcv\'s CUDA ops must be compiled with the same '
            'CUDA major version as torch. Install a CUDA 12.x or 13.x toolkit (and put its '
            'nvcc on PATH or set CUDA_HOME).')
    if source.cuda[0] != toolkit[0]:
        raise PlanError(
            f'torch from {source.where} is a CUDA {fmt(source.cuda)} build but nvcc is CUDA '
            f'{fmt(toolkit)}: torch\'s extension builder refuses to compile mmcv\'s CUDA '
            'ops with a different CUDA major version. Use a matching toolkit or another '
            'torch index.')
    if driver < (source.cuda[0], 0):
        hint = (' (R580 or newer)' if source.cuda[0] == 13 else '')
        raise PlanError(
            f'the NVIDIA driver supports CUDA up to {fmt(driver)}, but torch from '
            f'{source.where} is a CUDA {fmt(source.cuda)} build: it needs a driver for '
            f'CUDA {source.cuda[0]}.0 or newer{hint}. Update the driver, or use a CUDA '
            f'{driver[0]} toolkit so that the set-up picks a matching torch build.')
    return source


def torch_sources_cpu() -> Tuple[TorchSource, TorchSource]:
    """CPU mode: (preferred, fallback). The preferred one is PyTorch's CPU-only wheel;
    the fallback is what the registry (or a local find-links folder) serves."""
    preferred = TorchSource(f'torch=={TORCH_VERSION}+cpu',
                            ('--extra-index-url', PYTORCH_CPU_INDEX), None,
                            PYTORCH_CPU_INDEX)
    fallback = TorchSource(f'torch=={TORCH_VERSION}', (), None,
                           'the package registry (or a local find-links folder)')
    return preferred, fallback


def mmcv_build(mode: str) -> Tuple[Dict[str, str], Tuple[str, ...]]:
    """Environment variables and pip options of the mmcv 2.1.0 install.

    CPU: ops compiled for CPU (a cached wheel found through find-links is welcome).
    CUDA: ops compiled with CUDA, never from pip's wheel cache (a CPU build of the same
    sdist may sit there under the same name).
    """
    if mode == 'cpu':
        return {'MMCV_WITH_OPS': '1', 'FORCE_CUDA': '0'}, ('--no-build-isolation',)
    if mode == 'cuda':
        return ({'MMCV_WITH_OPS': '1', 'FORCE_CUDA': '1'},
                ('--no-build-isolation', '--no-cache-dir'))
    raise PlanError(f'mode must be cpu or cuda, got {mode!r}')


def requirement_name(line: str) -> Optional[str]:
    """Normalised project name of a requirements line (None for comments / blanks)."""
    line = line.split('#', 1)[0].strip()
    if not line or line.startswith('-'):
        return None
    m = re.match(r'[A-Za-z0-9][A-Za-z0-9._-]*', line)
    return normalise(m.group(0)) if m else None


def normalise(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()


def filter_requirements(lines: Iterable[str], drop: Sequence[str]) -> List[str]:
    """Requirement lines without comments, blanks and the projects named in ``drop``."""
    dropped = {normalise(d) for d in drop}
    out = []
    for line in lines:
        name = requirement_name(line)
        if name is not None and name not in dropped:
            out.append(line.split('#', 1)[0].strip())
    return out


def spconv_conflicts(installed: Iterable[str], keep: str) -> List[str]:
    """Installed spconv / cumm distributions that clash with the wanted spconv package.

    All of ``spconv``, ``spconv-cuXYZ``, ``cumm`` and ``cumm-cuXYZ`` install the same
    Python packages; only the family of ``keep`` (``spconv`` or ``spconv-cuXYZ``, with its
    ``cumm``) may stay.

    Args:
        installed: ``pip freeze`` lines or plain distribution names.
        keep: the spconv package that should be installed.
    """
    keep = normalise(keep)
    suffix = keep[len('spconv'):]  # '' or '-cu126'
    wanted = {keep, 'cumm' + suffix}
    out = []
    for line in installed:
        name = requirement_name(line.replace('@', ' ').replace('==', ' '))
        if name and re.fullmatch(r'(spconv|cumm)(-cu\d+)?', name) and name not in wanted:
            out.append(name)
    return out


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when ``url`` answers within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 400
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


# ---------------------------------------------------------------------------- shell
def _assign(name: str, value) -> str:
    if isinstance(value, (list, tuple)):
        return f'{name}=(' + ' '.join(shlex.quote(str(v)) for v in value) + ')'
    return f'{name}={shlex.quote(str(value))}'


def _env_words(env: Dict[str, str]) -> List[str]:
    return [f'{k}={v}' for k, v in env.items()]


def shell_plan(mode: str, toolkit: Optional[Version] = None,
               driver: Optional[Version] = None,
               torch_index: Optional[str] = None) -> List[str]:
    """Bash assignments describing the set-up of ``mode`` (see the module docstring)."""
    mmcv_env, mmcv_args = mmcv_build(mode)
    lines = [_assign('PLAN_MODE', mode),
             _assign('MMCV_ENV', _env_words(mmcv_env)),
             _assign('MMCV_PIP_ARGS', mmcv_args)]
    if mode == 'cpu':
        if torch_index:
            raise PlanError('--torch-index applies to the CUDA mode only')
        preferred, fallback = torch_sources_cpu()
        lines += [_assign('TORCH_SPEC', preferred.spec),
                  _assign('TORCH_INDEX_ARGS', preferred.index_args),
                  _assign('TORCH_PROBE_URL', PYTORCH_CPU_INDEX + '/torch/'),
                  _assign('TORCH_PROBE_TIMEOUT', int(PROBE_TIMEOUT_S)),
                  _assign('TORCH_FALLBACK_SPEC', fallback.spec),
                  _assign('TORCH_CUDA', ''),
                  _assign('SPCONV_PKG', 'spconv'),
                  _assign('PLAN_SUMMARY', [
                      f'torch {TORCH_VERSION} CPU build from {PYTORCH_CPU_INDEX} when it '
                      f'answers within {int(PROBE_TIMEOUT_S)} s, else torch=={TORCH_VERSION} '
                      'as the registry (or a local find-links file) serves it',
                      f'mmcv {MMCV_VERSION} with CPU ops (a cached wheel or a source build)',
                      f'spconv {SPCONV_VERSION} (CPU package)'])]
        return lines
    if toolkit is None or driver is None:
        raise PlanError('the CUDA mode needs the nvcc and driver CUDA versions')
    source = torch_source_cuda(toolkit, driver, torch_index)
    spconv = spconv_package(source.cuda, driver)
    lines += [_assign('TORCH_SPEC', source.spec),
              _assign('TORCH_INDEX_ARGS', source.index_args),
              _assign('TORCH_CUDA', fmt(source.cuda)),
              _assign('TOOLKIT_CUDA', fmt(toolkit)),
              _assign('DRIVER_CUDA', fmt(driver)),
              _assign('SPCONV_PKG', spconv.package),
              _assign('PLAN_SUMMARY', [
                  f'machine: nvcc CUDA {fmt(toolkit)}, driver supports CUDA {fmt(driver)}',
                  f'torch {TORCH_VERSION}, CUDA {fmt(source.cuda)} build, from {source.where}',
                  f'spconv {SPCONV_VERSION}: {spconv.note}',
                  f'mmcv {MMCV_VERSION} with CUDA ops compiled by nvcc {fmt(toolkit)} '
                  '(or a CUDA wheel found through PIP_FIND_LINKS)'])]
    return lines


def _cmd_shell(args) -> int:
    toolkit = driver = None
    if args.mode == 'cuda':
        if args.assume_cuda:
            toolkit = driver = parse_version(args.assume_cuda)
        else:
            toolkit = parse_nvcc_version(args.nvcc_text or '')
            driver = parse_driver_cuda(args.smi_text or '')
    elif args.assume_cuda:
        raise PlanError('--assume-cuda applies to the CUDA mode only')
    print('\n'.join(shell_plan(args.mode, toolkit, driver, args.torch_index)))
    return 0


def _cmd_spconv(args) -> int:
    choice = spconv_package(parse_version(args.torch_cuda),
                            parse_version(args.driver_cuda) if args.driver_cuda else None)
    print(_assign('SPCONV_PKG', choice.package))
    print(_assign('SPCONV_NOTE', choice.note))
    return 0


def _cmd_requirements(args) -> int:
    with open(args.file) as f:
        print('\n'.join(filter_requirements(f, args.drop)))
    return 0


def _cmd_conflicts(args) -> int:
    names = spconv_conflicts(sys.stdin.read().splitlines(), args.keep)
    if names:
        print('\n'.join(names))
    return 0


def _cmd_probe(args) -> int:
    return 0 if probe(args.url, args.timeout) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('shell', help='bash assignments of the set-up plan')
    p.add_argument('--mode', choices=('cpu', 'cuda'), required=True)
    p.add_argument('--nvcc-text', help='output of `nvcc --version`')
    p.add_argument('--smi-text', help='output of `nvidia-smi`')
    p.add_argument('--assume-cuda', help='plan for a machine with this CUDA version '
                   '(nvcc and driver), instead of reading nvcc / nvidia-smi')
    p.add_argument('--torch-index', help='PyTorch wheel index for the CUDA mode '
                   '(e.g. https://download.pytorch.org/whl/cu128)')
    p.set_defaults(func=_cmd_shell)
    p = sub.add_parser('spconv', help='spconv package for an installed torch')
    p.add_argument('--torch-cuda', required=True)
    p.add_argument('--driver-cuda')
    p.set_defaults(func=_cmd_spconv)
    p = sub.add_parser('requirements', help='requirement lines without some projects')
    p.add_argument('file')
    p.add_argument('--drop', action='append', default=[])
    p.set_defaults(func=_cmd_requirements)
    p = sub.add_parser('conflicts', help='spconv / cumm builds (pip freeze on stdin) to '
                       'uninstall before installing --keep')
    p.add_argument('--keep', required=True)
    p.set_defaults(func=_cmd_conflicts)
    p = sub.add_parser('probe', help='exit 0 when the URL answers in time')
    p.add_argument('url')
    p.add_argument('--timeout', type=float, default=PROBE_TIMEOUT_S)
    p.set_defaults(func=_cmd_probe)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PlanError as exc:
        print(f'[setup] error: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
