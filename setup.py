"""Packaging for graspcontrast_mm (GraspContrast as an OpenMMLab plugin)."""
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_version():
    ns = {}
    with open(os.path.join(HERE, 'graspcontrast_mm', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


def read_requirements(name):
    path = os.path.join(HERE, 'requirements', name)
    with open(path) as f:
        return [ln.split('#')[0].strip() for ln in f
                if ln.split('#')[0].strip()]


setup(
    name='graspcontrast_mm',
    version=read_version(),
    description=('GraspContrast: self-supervised contrastive pre-training for '
                 '6-DoF grasp detection, as an OpenMMLab (mmdet3d) plugin'),
    long_description=open(os.path.join(HERE, 'README.md')).read()
    if os.path.exists(os.path.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    python_requires='>=3.9',
    # robot_integration is installed beside the package so that a robot program (a ROS 2
    # workspace, a script elsewhere) imports it from anywhere; it uses the package, never
    # the other way round.
    packages=find_packages(include=['graspcontrast_mm', 'graspcontrast_mm.*',
                                    'robot_integration']),
    include_package_data=True,
    # torch, mmcv (with ops), mmdet, mmdet3d and graspnetAPI are installed by
    # tools/setup_env.sh: their published requirements conflict with Python 3.11.
    install_requires=[r for r in read_requirements('runtime.txt')
                      if not r.startswith('pybullet')],
    extras_require={
        'sim': ['pybullet==3.2.7'],
        'tests': read_requirements('tests.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
