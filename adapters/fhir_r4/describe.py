"""``python -m adapters.fhir_r4.describe > docs/mappings/fhir-r4.md``: the FHIR mapping page.

The page is generated from ``FhirR4Adapter().describe()`` (``mapping.MAPPING``) and the UK Core
conformance counts (``mapping.CONFORMANCE``); tests keep the committed page equal to it.
"""

from __future__ import annotations

import sys

from adapters.fhir_r4.mapping import markdown

if __name__ == "__main__":
    sys.stdout.write(markdown())
