"""``python -m adapters.csc.mapping_doc [FILE]``: the CSC mapping as Markdown.

Written from ``CscAdapter().describe()`` (default ``docs/mappings/csc.md``); a test checks the
committed file is what this module generates.
"""

from __future__ import annotations

import sys
from itertools import groupby
from pathlib import Path

from adapters.base import MappingRow
from adapters.csc.adapter import CscAdapter

_INTRO = """\
# CSC mapping

Generated from `CscAdapter().describe()` by `python -m adapters.csc.mapping_doc`; do not edit.

The CSC adapter reads what a council sends (JSON, one message per request, chosen by
`message_type`) and renders what a council receives, chosen by the disclosure's kind:

| disclosure kind | council document |
|---|---|
| crisis-event | `crisis-notice` |
| meeting-invitation | `meeting-invitation-notice` |
| referral | `referral-notice` |
| worker-contact | `worker-contact-notice` |
| record-update, consent-directive, meeting-reply | `disclosure-summary` |
| any other | refused (ConfigurationError: the recipient is refused and the refusal recorded) |

Every message has a JSON Schema in `docs/schemas/csc-<message_type>.schema.json`
(`python -m adapters.csc`). What a message holds that the canonical model cannot carry is
listed in the canonical message's `unmapped`, by JSON path; what a disclosure holds that a
document cannot carry is returned as a loss, `<fact>.<field>`.

Symmetry: the four documents with parts read back to the disclosed facts exactly (property
tests); the crisis notice is a flat layout and is not symmetrical.

Every message may carry a `sharing_request` (the lawful basis the council relies on, an urgent
override, or its decision to withhold), read into the canonical message's `request` exactly as the
FHIR adapter reads its MessageHeader's sharing-request extension.

Third parties: a person a message names beside the child who is not, by what the message says,
the child's parent or carer (a `family[]` member or a meeting invitee's person whose
`relationship` is `other`; an invitee whose relationship is not given) is labelled `3RDPARTY`, as
the FHIR adapter labels a related person who is not the subject's child. Minimisation withholds
them unless the flow permits `3RDPARTY`.
"""


def markdown(rows: tuple[MappingRow, ...]) -> str:
    """The mapping as Markdown: one table per message."""
    out = [_INTRO]
    for message, group in groupby(rows, key=lambda r: r.source.split(": ", 1)[0]):
        out.append(f"\n## {message}\n\n| element | canonical | note |\n|---|---|---|\n")
        for row in group:
            source = row.source.split(": ", 1)[1]
            out.append(f"| `{source}` | {row.canonical} | {row.note} |\n")
    return "".join(out)


def main(argv: list[str]) -> None:
    """Write the Markdown to ``argv[0]`` (default ``docs/mappings/csc.md``)."""
    path = Path(argv[0] if argv else "docs/mappings/csc.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(CscAdapter().describe()), encoding="utf-8")
    sys.stdout.write(f"{path}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
