"""Help pages in the usual Unix form: ``sweeper run [OPTIONS] BASE_CONFIG``, flags without a type."""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperCommand, TyperOption

_REQUIRED = re.compile(r"\{([^{}]+)\}(\.\.\.)?")


class UsageCommand(TyperCommand):
    """Typer's command with argument names in capitals (not ``{base_config}``) and no ``<bool>``
    beside flags such as ``--keep-outputs`` or ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""

    # ctx is Typer's vendored click Context (typer._click), private: typed as Any here
    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [
            _REQUIRED.sub(lambda m: m.group(1).upper() + (m.group(2) or ""), piece)
            for piece in super().collect_usage_pieces(ctx)
        ]
