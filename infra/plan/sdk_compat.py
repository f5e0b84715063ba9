"""Every use of the Pulumi SDKs' private internals, in one place.

The offline plan drives Pulumi's own mock engine further than its public API goes: it runs the
program to completion synchronously, resets the runtime between plans, records the wire format
of registrations (secret / resource / asset signatures) and builds the argument objects the
policy analyzer builds. The names below are private to ``pulumi`` / ``pulumi_policy`` and may
change in any release; ``tests/test_sdk_compat.py`` pins their shape, so an SDK upgrade that
moves one fails there, with the name, instead of somewhere deep in a plan.

Nothing outside this module imports them (``tests/test_sdk_compat.py`` checks that too); the one
exception is ``policies/common/base.py``, which catches ``pulumi_policy``'s ``UnknownValueError``
inside the packs' own virtualenvs, where ``infra`` does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pulumi import _types as pulumi_types
from pulumi.runtime import config as _config
from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime import stack as _stack
from pulumi.runtime import sync_await as _sync
from pulumi_policy import policy as _policy
from pulumi_policy import proxy as _proxy

T = TypeVar("T")

# ---- pulumi: the wire format of property values ------------------------------------------------

SIG_KEY: str = _rpc._special_sig_key
"""The key under which a wire-format object names its kind (secret, resource reference, asset)."""
SECRET_SIG: str = _rpc._special_secret_sig
RESOURCE_SIG: str = _rpc._special_resource_sig
ASSET_SIGS: tuple[str, str] = (_rpc._special_asset_sig, _rpc._special_archive_sig)
UNKNOWN_VALUE: str = _rpc.UNKNOWN
"""The wire value of a property the engine does not know yet (a preview's computed output)."""
serialize_properties = _rpc.serialize_properties
deserialize_properties = _rpc.deserialize_properties

# ---- pulumi: running a program under the mock monitor ------------------------------------------

MockMonitor = _mocks.MockMonitor
"""The SDK's in-process resource monitor; :class:`infra.plan.recorder.RecordingMonitor` extends it."""


def sync_await(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion on the SDK's event loop (what the SDK itself does for sync calls)."""
    return _sync._sync_await(awaitable)


def ensure_event_loop() -> None:
    """Make sure the current thread has the event loop the SDK schedules on (the mock monitor's RPC threads do not)."""
    _sync._ensure_event_loop()


def run_program(program: Callable[[], Any]) -> Awaitable[Any]:
    """``program`` wrapped as the engine's language host runs it: wait for every outstanding RPC, then the outputs."""
    return _stack.run_pulumi_func(program)


def reset_runtime() -> None:
    """Forget the previous plan's root stack resource, outstanding RPCs and stack outputs."""
    _settings.ROOT.set(None)
    _settings.SETTINGS.rpc_manager.clear()
    _settings.SETTINGS.outputs.clear()


def under_engine() -> bool:
    """Whether a Pulumi engine (``pulumi up`` / ``preview``) configured this process's runtime."""
    return _settings.get_monitor() is not None


def program_config() -> dict[str, str]:
    """The running program's config (``project:key`` -> string) as the engine handed it over, environment included."""
    return {**_config.get_config_env(), **_config.CONFIG.get()}


def program_secret_keys() -> set[str]:
    """The running program's config keys (``project:key``) whose values the engine handed over as secrets."""
    return set(_config.get_config_secret_keys_env()) | {k for k in program_config() if _config.is_config_secret(k)}


# ---- pulumi: input types (for tests that walk a provider's declared inputs) ---------------------

is_input_type = pulumi_types.is_input_type
input_type_types = pulumi_types.input_type_types

# ---- pulumi_policy: the analyzer's side ------------------------------------------------------------

NotApplicableError: type[Exception] = _policy._NotApplicableError
"""Raised by ``args.not_applicable()``; the CLI drops the policy for that resource."""
UnknownValueError = _proxy.UnknownValueError
UNKNOWN_POLICY_VALUE: str = _proxy.UNKNOWN_STRING_VALUE
"""How the CLI hands a pack an unknown value inside props."""
unknown_checking_proxy: Callable[[Any], Any] = _proxy.unknown_checking_proxy
"""Wrap props as the CLI does: read-only mappings / sequences raising :data:`UnknownValueError` on unknowns."""
