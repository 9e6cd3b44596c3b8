"""A demo run of an agent, told as Server-Sent Events.

The events are worked out before the response starts, so that anything that can fail (the
tenant, the agent, the credential) fails as a normal JSON error; the stream itself only writes.
"""

import json
import uuid
from collections.abc import Iterable, Iterator

from agents.models import Agent

STEPS = ("Reading the input", "Thinking it over", "Writing the answer")


def agent_run_events(*, agent: Agent, input_text: str = "") -> list[dict]:
    run_id = str(uuid.uuid4())
    events = [
        {
            "type": "started",
            "run_id": run_id,
            "agent_id": str(agent.pk),
            "tenant_id": str(agent.tenant_id),
            "input": input_text,
        }
    ]
    for number, label in enumerate(STEPS, start=1):
        events.append(
            {
                "type": "step",
                "run_id": run_id,
                "step": number,
                "of": len(STEPS),
                "message": f"{agent.name}: {label}",
            }
        )
    events.append(
        {"type": "done", "run_id": run_id, "output": f"{agent.name} finished {len(STEPS)} steps."}
    )
    return events


def sse_stream(events: Iterable[dict]) -> Iterator[bytes]:
    """One ``data:`` line per event; JSON escapes newlines, so each event is one line."""
    for event in events:
        yield f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()
