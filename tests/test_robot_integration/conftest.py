"""Make the top-level ``robot_integration`` folder importable when pytest runs from
anywhere (it is not part of the installed package)."""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
