"""The incident export's name for the shared printing layer, :mod:`dutywatch.printing`.

The pieces that were here (the translation table, the HTML skeleton, the PDF builder and its
fonts) moved there when the review report started using them too; this module keeps the old
import path (``from dutywatch.exports.printing import TEXT``) working and adds nothing.
"""

from __future__ import annotations

# Re-exports dutywatch.printing's public names (its __all__), listed once there.
from dutywatch.printing import *  # noqa: F403
