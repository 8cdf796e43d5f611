"""Where a viewer's chart frames are served: the path server.py routes and page.py points the charts at.

Its own small module so that the page need not import the server (whose warm_up imports the page).
"""

from __future__ import annotations

from . import assets

FRAMES_ROUTE = "/dropviz/frames"  # + "/<viewer>", under server.baseUrlPath like every route of ours


def frames_url(viewer: str) -> str:
    """The URL of `viewer`'s frames, with the routes' prefix (assets.base())."""
    return f"{assets.base()}{FRAMES_ROUTE}/{viewer}"
