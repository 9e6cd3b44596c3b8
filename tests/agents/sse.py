import json


def sse_events(response) -> list[dict]:
    """Read a streamed text/event-stream body back into its JSON events."""
    body = b"".join(response.streaming_content).decode()
    assert body.endswith("\n\n")
    events = []
    for block in body.split("\n\n"):
        if block:
            (line,) = block.splitlines()
            assert line.startswith("data: ")
            events.append(json.loads(line.removeprefix("data: ")))
    return events
