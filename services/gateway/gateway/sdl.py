"""The graph's schema as SDL, checked into the repository for clients and reviews.

``python -m gateway.sdl`` rewrites ``services/gateway/schema.graphql``; ``--check`` exits 1 when the
file is stale (a test runs the same comparison).
"""

import sys
from pathlib import Path

from gateway.schema import build_schema

SDL_PATH = Path(__file__).resolve().parent.parent / "schema.graphql"


def current_sdl() -> str:
    return build_schema(introspection=True).as_str() + "\n"


def main(argv: list[str]) -> int:
    sdl = current_sdl()
    if "--check" in argv:
        if not SDL_PATH.exists() or SDL_PATH.read_text() != sdl:
            print(f"{SDL_PATH} is stale: run `python -m gateway.sdl`.", file=sys.stderr)
            return 1
        return 0
    SDL_PATH.write_text(sdl)
    print(f"wrote {SDL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
