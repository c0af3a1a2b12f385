# Public names of mink_toolkit.io (read by lazy_loader.attach_stub in __init__.py,
# and by IDEs and type checkers).

from . import (
    atomic as atomic,
    odim as odim,
    opera as opera,
    projection as projection,
    registry as registry,
    series as series,
)

from .atomic import (
    atomic_write as atomic_write,
    remove_path as remove_path,
)
from .odim import (
    DBZH_UNDETECT_FLOOR as DBZH_UNDETECT_FLOOR,
    OdimHeader as OdimHeader,
    read_odim as read_odim,
    read_odim_header as read_odim_header,
    read_odim_values as read_odim_values,
)
from .opera import (
    load_opera as load_opera,
)
from .projection import (
    project_lonlat as project_lonlat,
)
from .registry import (
    OPERA_PRODUCTS as OPERA_PRODUCTS,
    OperaChecksumError as OperaChecksumError,
    OperaDataNotFoundError as OperaDataNotFoundError,
    OperaFileError as OperaFileError,
    cache_dir as cache_dir,
    fetch_opera as fetch_opera,
    file_sha256 as file_sha256,
    opera_files as opera_files,
)
from .series import (
    open_opera as open_opera,
    resolve_paths as resolve_paths,
)
