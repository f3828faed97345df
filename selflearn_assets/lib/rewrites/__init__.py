"""The exported rewrite table: writing it atomically, finding the live one, looking a request up."""

from selflearn_assets.lib.rewrites.export import (
    RewriteExportError,
    export_folder,
    latest_export,
    lookup,
    read_export,
    write_export,
)

__all__ = ["RewriteExportError", "export_folder", "latest_export", "lookup", "read_export", "write_export"]
