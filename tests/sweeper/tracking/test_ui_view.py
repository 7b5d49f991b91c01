"""What the MLflow UI is told: share keys, the runs-table view, the study's description."""

from __future__ import annotations

import json

from sweeper.tracking.ui_view import (
    note,
    study_paragraph,
    view_key,
    view_state,
    written_by_sweeps,
)


def test_view_key_is_url_safe() -> None:
    assert view_key("mouse-v2.1") == "sweeper-mouse-v2.1"
    odd = view_key("a study/with 'quotes'")
    assert odd.startswith("sweeper-") and odd[8:].isalnum() and odd != view_key("a study")


def test_view_state_drops_columns_past_the_tag_limit() -> None:
    """Older tracking servers refuse experiment tags over 5000 characters: params go first."""
    columns = ["metrics.`m`", *(f"params.`{'p' * 90}{i}`" for i in range(100))]
    state = view_state("tags.`x` = 'y'", "m", False, columns)
    assert len(state) <= 5000
    shown = json.loads(state)["selectedColumns"]
    assert 1 < len(shown) < len(columns) and shown == columns[: len(shown)]
    assert json.loads(state)["orderByAsc"] is False


def test_study_paragraph_first_line_is_plain_and_short() -> None:
    text = study_paragraph(
        "mouse", "val/pixel_error", "minimize", "val_pixel_error", ("12", 3.14159)
    )
    first = text.splitlines()[0]
    assert (
        first
        == "Study mouse minimizes val/pixel_error; best so far: trial 12, val_pixel_error = 3.142."
    )
    assert "`" not in first and "*" not in first


def test_descriptions_sweeps_may_rewrite() -> None:
    """Any worker's study paragraphs may be rewritten (workers race, so no record of the last
    text written is trusted); a description someone wrote stays."""
    one = study_paragraph("a", "val/pixel_error", "minimize", "val_pixel_error", ("3", 4.5))
    two = study_paragraph("b", "val/loss", "maximize", "best_val_loss", None)
    assert written_by_sweeps("")
    assert written_by_sweeps(note({"k1": one}))
    assert written_by_sweeps(note({"k1": one, "k2": two}))
    assert not written_by_sweeps("Mouse reaching, camera 2; ask Ana before deleting runs.")
    assert not written_by_sweeps(note({"k1": one}) + "\n\nOur notes: lr above 1e-2 diverges.")
