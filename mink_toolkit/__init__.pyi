# Public API of mink_toolkit. This stub is the single list of exported names:
# lazy_loader.attach_stub (in __init__.py) imports each on first use, and IDEs and
# type checkers read it. Keep one block per area, in the package's data-flow order.

# --- submodules ---
from . import (
    checkpoint as checkpoint,
    cli as cli,
    curves as curves,
    datasets as datasets,
    experiments as experiments,
    functionals as functionals,
    io as io,
    losses as losses,
    notebook as notebook,
    parallel as parallel,
    preprocess as preprocess,
    relax as relax,
    reporting as reporting,
    resample as resample,
    schedules as schedules,
    superres as superres,
    surrogate as surrogate,
    thresholds as thresholds,
    verification as verification,
)

# --- thresholds ---
from .thresholds import (
    DEFAULT_THRESHOLDS as DEFAULT_THRESHOLDS,
    Quantiles as Quantiles,
    offset_from_grid as offset_from_grid,
    resolve_thresholds as resolve_thresholds,
)

# --- exact functionals ---
from .functionals import (
    FUNCTIONAL_NAMES as FUNCTIONAL_NAMES,
    betti_numbers as betti_numbers,
    component_counts as component_counts,
    combine_terms as combine_terms,
    compress_functionals as compress_functionals,
    expand_functionals as expand_functionals,
    minkowski_functionals as minkowski_functionals,
    required_terms as required_terms,
)

# --- OPERA input ---
from .io import (
    OperaChecksumError as OperaChecksumError,
    OperaDataNotFoundError as OperaDataNotFoundError,
    OperaFileError as OperaFileError,
    atomic_write as atomic_write,
    fetch_opera as fetch_opera,
    load_opera as load_opera,
    open_opera as open_opera,
    opera_files as opera_files,
    project_lonlat as project_lonlat,
    read_odim as read_odim,
    read_odim_header as read_odim_header,
)

# --- preprocessing ---
from .preprocess import (
    dbz_to_rainrate as dbz_to_rainrate,
    extract_patches as extract_patches,
    screen_clutter as screen_clutter,
    to_rainrate as to_rainrate,
)

# --- archive analysis ---
from .resample import (
    block_mean as block_mean,
    coarsen_nanmean as coarsen_nanmean,
)
from .curves import (
    minkowski_curves as minkowski_curves,
)

# --- relaxation and Minkowski image loss ---
from .relax import (
    membership_functionals as membership_functionals,
    paper_relaxation as paper_relaxation,
    paper_temperature as paper_temperature,
    resolve_temperature as resolve_temperature,
    soft_minkowski_functionals as soft_minkowski_functionals,
    soft_threshold as soft_threshold,
)
from .schedules import (
    ConstantSchedule as ConstantSchedule,
    CosineSchedule as CosineSchedule,
    ExponentialSchedule as ExponentialSchedule,
    LambdaSchedule as LambdaSchedule,
    LinearSchedule as LinearSchedule,
    Schedule as Schedule,
    TemperatureSchedule as TemperatureSchedule,
)
from .losses import (
    LossSettings as LossSettings,
    MinkowskiLoss as MinkowskiLoss,
    SurrogateTerm as SurrogateTerm,
    functional_distance as functional_distance,
    gradient_share as gradient_share,
    minkowski_loss as minkowski_loss,
    threshold_gradients as threshold_gradients,
)

# --- neural surrogate ---
from .datasets import (
    PatchSet as PatchSet,
    SuperresData as SuperresData,
    load_patches as load_patches,
    superres_patches as superres_patches,
)
from .surrogate import (
    ConfigurationSurrogate as ConfigurationSurrogate,
    ConventionalSurrogate as ConventionalSurrogate,
    MinkowskiSurrogate as MinkowskiSurrogate,
    geometric_violations as geometric_violations,
    lipschitz_upper_bound as lipschitz_upper_bound,
    load_surrogate as load_surrogate,
    save_surrogate as save_surrogate,
    train_surrogate as train_surrogate,
    train_surrogates as train_surrogates,
)

# --- verification ---
from .verification import (
    critical_success_index as critical_success_index,
    fractions_skill_score as fractions_skill_score,
    gradient_grid_alignment as gradient_grid_alignment,
    high_wavenumber_power_ratio as high_wavenumber_power_ratio,
    high_wavenumber_share as high_wavenumber_share,
    maximum_ratio as maximum_ratio,
    minkowski_errors as minkowski_errors,
    rapsd as rapsd,
    superres_scores as superres_scores,
    wet_wasserstein as wet_wasserstein,
)

# --- super-resolution ---
from .superres import (
    ResidualUNet as ResidualUNet,
    train_superres as train_superres,
    upsample as upsample,
)

__version__: str
