"""pytest setup of the simulator's unit tests: the simulator's modules are
imported from this directory."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
