"""schemathesis hooks for scripts/fuzz-api.sh: the one request the fuzz run leaves out.

Revoking the token the fuzzer authenticates with would turn every later request into a
401 and end the run's use. Every other token name (and every other operation) is fuzzed;
the stateful phase finds the fuzzing token's name in GET /api/v1/tokens, so the request is
caught where every phase sends it, not only where cases are generated.
"""

import os

import schemathesis

FUZZ_TOKEN = os.environ["HARMONIA_FUZZ_TOKEN_NAME"]
# A name no token has: the request still goes out and is checked (a 404 `unknown_token`).
STAND_IN = FUZZ_TOKEN + "-not-revoked"


def _revokes_fuzz_token(operation, path_parameters) -> bool:
    return (
        operation.method.upper() == "DELETE"
        and operation.path == "/api/v1/tokens/{name}"
        and (path_parameters or {}).get("name") == FUZZ_TOKEN
    )


@schemathesis.hook
def filter_path_parameters(ctx, path_parameters):
    return ctx.operation is None or not _revokes_fuzz_token(ctx.operation, path_parameters)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if _revokes_fuzz_token(case.operation, case.path_parameters):
        case.path_parameters = {**case.path_parameters, "name": STAND_IN}
