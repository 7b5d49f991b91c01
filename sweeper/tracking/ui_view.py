"""How the MLflow UI presents a sweep: a model-training experiment whose trials rank by the objective.

MLflow 3 opens an experiment on its GenAI overview (traces, token usage) unless told it is about
model training: MLflow 3.4's UI reads the experiment tag ``mlflow.experimentKind``, 3.17's its
workflow switch (``workflowType`` in the page's URL, else what this browser last chose; GenAI at
first). Its runs table nests each study's trials under the collapsed parent run and shows no metric
columns, unless it is sorted by a metric: a shared view (an experiment tag that the URL names with
``viewStateShareKey``) sorts the trials by the objective and shows it and the sampled params.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence

KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
# what the UI writes when it only guessed a kind: ours replaces those, never a kind someone chose
_GUESSED_KINDS = frozenset(
    {"", "no_inferred_type", "genai_development_inferred", "custom_model_development_inferred"}
)
NOTE_TAG = "mlflow.note.content"  # the experiment's description (markdown)
VIEW_TAG_PREFIX = "mlflow.sharedViewState."
NOTE_PART_PREFIX = "sweeper.note."  # one study's paragraph of the description
# older tracking servers take experiment tag values of up to 5000 characters (3.17's: 20000)
MAX_TAG_VALUE = 5000
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def kind_unset(tags: Mapping[str, str]) -> bool:
    """True when no one chose the experiment's kind (the UI's own guesses count as unset)."""
    return tags.get(KIND_TAG, "") in _GUESSED_KINDS


def view_key(study: str) -> str:
    """The share key of the study's view, also naming its paragraph of the description: the
    study's name where that is URL-safe (as ``sweeper run`` requires), else a hash of it."""
    name = study if _PLAIN_NAME.fullmatch(study) else hashlib.sha256(study.encode()).hexdigest()
    return f"sweeper-{name[:100]}"


def column(group: str, key: str) -> str:
    """A runs-table column as the UI names it: ``metrics.`val/loss```, ``params.`a.b```."""
    return f"{group}.`{key}`"


def view_state(search_filter: str, metric: str, ascending: bool, columns: Sequence[str]) -> str:
    """The shared view's JSON: the runs matching ``search_filter`` sorted by ``metric`` (which also
    lists them flat instead of under their parent run), with ``columns`` shown (as many as fit)."""
    shown = list(columns)
    while True:
        text = json.dumps(
            {
                "searchFilter": search_filter,
                "orderByKey": column("metrics", metric),
                "orderByAsc": ascending,
                "selectedColumns": shown,
            }
        )
        if len(text) <= MAX_TAG_VALUE or len(shown) <= 1:
            return text
        shown.pop()


def runs_path(experiment_id: str, key: str | None = None) -> str:
    """The UI page of the experiment's runs table (in the view ``key``) after the server's ``/``."""
    path = f"#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    return f"{path}&viewStateShareKey={key}" if key else path


def study_paragraph(
    study: str, objective: str, direction: str, metric: str, best: tuple[str, float] | None
) -> str:
    """The study's part of the experiment description, ``best`` its (trial number, value). The UI
    shows only the first line until expanded, and the experiment list shows it as plain text: that
    line is short and without markup."""
    verb = {"minimize": "minimizes", "maximize": "maximizes"}.get(direction, direction)
    found = f"best so far: trial {best[0]}, {metric} = {best[1]:.4g}" if best else "no trial yet"
    return (
        f"Study {study} {verb} {objective}; {found}.\n\n"
        f"Its trials are the runs tagged `sweeper.study` = `{study}`; their metric `{metric}` is "
        f"the value Optuna got. To rank them, sort the runs table by `{metric}` (`sweeper ui` "
        "prints a link to that view)."
    )


def note(parts: Mapping[str, str]) -> str:
    """The experiment description: each study's paragraph, in the order of their tag keys."""
    return "\n\n".join(parts[key] for key in sorted(parts))


_OUR_NOTE = re.compile(
    r"(Study [^\n]+ (minimizes|maximizes) [^\n]+\n\nIts trials are the runs tagged [^\n]+)"
    r"(\n\nStudy [^\n]+ (minimizes|maximizes) [^\n]+\n\nIts trials are the runs tagged [^\n]+)*"
)


def written_by_sweeps(description: str) -> bool:
    """Whether a description is empty or only study paragraphs (any worker's, any time's), so that
    sweeps may rewrite it; anything else someone wrote in the UI, and stays."""
    return not description or _OUR_NOTE.fullmatch(description) is not None
