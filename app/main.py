"""actionpose explorer: inspect a run — 3D viewer, embedding projector, text retrieval, failure triage,
your own 2D keypoints, run comparison, masks and training curves.

    streamlit run app/main.py

Each tab is a module of `app/explorer/` with one job; they import only the `actionpose` public API and
`actionpose.viz` (design §2). Every failure is shown as a one-line `st.error`, never a traceback. Only
the open tab runs, and heavy work is cached (`explorer/cache.py`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # AppTest does not add the script's folder

from explorer import (compare, links, masking, projector, retrieval, training,  # noqa: E402
                      triage, upload, viewer)
from explorer.common import APP_TITLE, TABS, guard, init_state  # noqa: E402
from explorer.context import header, sidebar  # noqa: E402

RENDER = {"Viewer": viewer.render, "Projector": projector.render, "Retrieval": retrieval.render,
          "Triage": triage.render, "Bring your own 2D": upload.render, "Compare runs": compare.render,
          "Masking": masking.render, "Training": training.render}


def main() -> None:
    st.set_page_config(page_title=APP_TITLE, layout="wide")
    init_state()
    links.restore()  # a deep link's run, tab, take, view, frame, camera... (once per session)
    st.title(APP_TITLE)
    ctx = sidebar()
    if ctx is None:
        return
    header(ctx)
    tabs = st.tabs(list(TABS), key="tab", on_change="rerun")  # only the open tab runs
    for tab, name in zip(tabs, TABS):
        if getattr(tab, "open", True) is not False:
            with tab, guard():
                RENDER[name](ctx)
    links.publish()  # the URL now reopens this view


main()
