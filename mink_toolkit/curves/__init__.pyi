# Public names of mink_toolkit.curves (read by lazy_loader.attach_stub in
# __init__.py, and by IDEs and type checkers).

from . import (
    engine as engine,
    lazy as lazy,
    run as run,
    scheduling as scheduling,
    store as store,
)

from .engine import (
    CurvesSettings as CurvesSettings,
    FileRun as FileRun,
    compute_files as compute_files,
    curves_dataset as curves_dataset,
    field_curves as field_curves,
    file_curves as file_curves,
)
from .lazy import (
    minkowski_curves as minkowski_curves,
)
from .run import (
    CurvesArgumentError as CurvesArgumentError,
    run_curves as run_curves,
)
from .scheduling import (
    compute_streaming as compute_streaming,
)
from .store import (
    CurvesStore as CurvesStore,
    StoreSettingsError as StoreSettingsError,
    write_curves as write_curves,
)
