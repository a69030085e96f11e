"""Loading the configured ``directory_file`` at start-up."""

from __future__ import annotations

from pathlib import Path

import structlog

from gateway.directory.file import LoadReport, load_directory, read_directory_file
from gateway.errors import ConfigurationError
from gateway.services import Services

log = structlog.get_logger(__name__)


async def load_directory_at_startup(path: Path | None, services: Services) -> LoadReport | None:
    """Check and load ``path`` (the ``directory_file`` setting; None: nothing to load); an
    invalid or unreadable file stops start-up.

    Loaded only if it changes what is stored, so a restart with the same file writes nothing and
    records nothing (a reload by ``joinedup directory load`` always records one entry).
    """
    if path is None:
        return None
    try:
        checked = read_directory_file(path)
    except OSError as exc:
        raise ConfigurationError(
            f"directory_file {path} cannot be read ({type(exc).__name__})"
        ) from None
    if not checked.valid:
        # SECURITY: element paths and rules only, never a value from the file.
        problems = "; ".join(f"{p.element}: {p.reason}" for p in checked.problems[:20])
        raise ConfigurationError(f"directory_file {path} is not valid: {problems}")
    report = await load_directory(
        checked, services.committer, at=services.clock(), by="start-up", only_if_changed=True
    )
    log.info(
        "directory_loaded" if report.changed else "directory_unchanged",
        organisations=list(report.organisations),
        entries=report.entries,
    )
    return report
