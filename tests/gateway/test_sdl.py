from gateway.sdl import SDL_PATH, current_sdl


def test_checked_in_sdl_matches_the_schema() -> None:
    # Fails when the graph changed without `python -m gateway.sdl` (make sdl) being run.
    assert SDL_PATH.read_text() == current_sdl()
