"""botocore's S3 data, parsed once per process and in slices that leave the host's loop running.

Opening a client needs S3's service model, its endpoint rules and the partitions:
several megabytes of JSON.  The C JSON decoder holds the GIL for a whole call, so
one ``json.loads`` of the model in a worker thread still stops the host's event loop
for tens of milliseconds.  Here each file is decoded a few levels down, value by
value, so the interpreter can hand the GIL to the loop between values; and the
loader that holds the result is kept for the life of the process, so a second
Ingestor (or ``ingest()`` call) finds everything parsed already.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import threading
from collections import OrderedDict
from typing import Any

__all__ = ["decode_sliced", "shared_loader"]

#: Containers this deep (the file is 0) are decoded item by item; deeper ones in one call each.
DEPTH = 5

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder(object_pairs_hook=OrderedDict)
_LOADERS: dict[str | None, Any] = {}
_LOCK = threading.Lock()


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    assert match is not None
    return match.end()


def _decode(text: str, pos: int, depth: int) -> tuple[Any, int]:
    """The JSON value at *pos* (no leading whitespace) and the position after it."""
    opener = text[pos]
    if depth >= DEPTH or opener not in "{[":
        return _DECODER.raw_decode(text, pos)
    closer = "}" if opener == "{" else "]"
    pairs: list[tuple[str, Any]] = []
    items: list[Any] = []
    pos = _skip(text, pos + 1)
    while text[pos] != closer:
        if opener == "{":
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if text[pos] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
            value, pos = _decode(text, _skip(text, pos + 1), depth + 1)
            pairs.append((key, value))
        else:
            value, pos = _decode(text, pos, depth + 1)
            items.append(value)
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
        elif text[pos] != closer:
            raise json.JSONDecodeError(f"Expecting ',' or {closer!r}", text, pos)
    return (OrderedDict(pairs) if opener == "{" else items), pos + 1


def decode_sliced(text: str) -> Any:
    """``json.loads(text, object_pairs_hook=OrderedDict)``, as botocore loads its data, in many short calls."""
    value, end = _decode(text, _skip(text, 0), 0)
    if _skip(text, end) != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


def _file_loader() -> Any:
    """botocore's JSON file loader with the sliced decoder."""
    loaders = importlib.import_module("botocore.loaders")

    class SlicedJSONFileLoader(loaders.JSONFileLoader):  # type: ignore[misc, name-defined]
        def load_file(self, file_path: str) -> Any:
            for ext, open_method in (".json", open), (".json.gz", importlib.import_module("gzip").open):
                full_path = file_path + ext
                if os.path.isfile(full_path):
                    with open_method(full_path, "rb") as fp:
                        return decode_sliced(fp.read().decode("utf-8"))
            return None

    return SlicedJSONFileLoader()


def shared_loader(data_path: str | None) -> Any:
    """The process's botocore loader for *data_path* (``AWS_DATA_PATH``), created on first use.

    Blocking; call it in a worker thread.  Its caches keep every model and data file it
    has loaded, so the sessions given it parse nothing twice.
    """
    with _LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            loaders = importlib.import_module("botocore.loaders")
            paths = (
                []
                if data_path is None
                else [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
            )
            loader = loaders.Loader(extra_search_paths=paths, file_loader=_file_loader())
            _LOADERS[data_path] = loader
        return loader
