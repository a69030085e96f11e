"""The DfE Children in Need census return (XML, 2021 to 2026 schemas), read as a stream.

Import only: the gateway reads councils' census returns into its index, it never writes one.

    from adapters.cin_census import CinCensusReader
    reader = CinCensusReader("return.xml")
    for child in reader:
        child.message      # a CanonicalMessage (kind cin-census-child), or None if not imported
        child.problems     # every problem found in that child: file, line, element, reason
    reader.file_problems   # header and file-level problems; reader.refused, reader.unusable

``gateway.imports.import_cin_census`` learns the messages into the index; ``read_file`` and
``parse_file`` read a whole return (for ``joinedup translate``); ``describe()`` is the mapping
table (docs/mappings/cin-census.md).
"""

from adapters.cin_census.child import CensusHeader, ChildResult, partner_id
from adapters.cin_census.describe import MAPPING, describe
from adapters.cin_census.problems import Effect, Problem
from adapters.cin_census.reader import SAFE_PARSER_OPTIONS, CinCensusReader
from adapters.cin_census.translate import CinCensusFile, parse_file, read_file

__all__ = [
    "MAPPING",
    "SAFE_PARSER_OPTIONS",
    "CensusHeader",
    "ChildResult",
    "CinCensusFile",
    "CinCensusReader",
    "Effect",
    "Problem",
    "describe",
    "parse_file",
    "partner_id",
    "read_file",
]
