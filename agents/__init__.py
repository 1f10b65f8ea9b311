"""ONE's agents and the layer they talk to models through.

`Model` is the layer: any OpenAI-compatible chat model (OpenAI with a key, a vLLM/Ollama/
llama.cpp server by base URL, or, with neither, the tiny local SmolLM2 that ONE serves
itself), with structured output, token limits that hold, retries, usage and budgets.
`RecordingChatModel` records and replays; `ScriptedChatModel` and `block_model_requests`
are for tests.

An agent is an `AgentSpec`: what it reads (`agents.inputs`), what it must answer (a pydantic
model), and how its answer is recorded (`agents.outputs`). `run_agent` runs one for a
creator and writes its results to the ontology. `agents.providers` holds payments, chain,
voice and appearance, each with a local simulator.
"""

from agents import errors, inputs, outputs, providers
from agents._budget import Budget, Reservation
from agents._clone import (
    Clone,
    CloneBuild,
    CloneReply,
    CloneStream,
    Media,
    Personality,
    Requirements,
    Source,
    attach_appearance,
    attach_voice,
    build_clone,
    check_content,
    clone_appearance,
    clone_entity_id,
    clone_voice,
    extract_personality,
    holds_tokens,
    record_clone,
)
from agents._fakes import ScriptedChatModel, allow_model_requests, block_model_requests
from agents._fans import fan, fan_entity_id, receive_message
from agents._local import LocalServer, packaged_model, shared_server
from agents._model import Model, Reply, Stream
from agents._recorder import RecordingChatModel
from agents._runner import AgentRun, run_agent
from agents._settings import ModelSettings
from agents._spec import AgentRegistry, AgentSpec, agent_entity_id
from agents._usage import PRICES, Usage, cost
from agents.inputs import AgentContext, pending_messages

__all__ = [
    "PRICES",
    "AgentContext",
    "AgentRegistry",
    "AgentRun",
    "AgentSpec",
    "Budget",
    "Clone",
    "CloneBuild",
    "CloneReply",
    "CloneStream",
    "LocalServer",
    "Media",
    "Model",
    "ModelSettings",
    "Personality",
    "RecordingChatModel",
    "Reply",
    "Requirements",
    "Reservation",
    "ScriptedChatModel",
    "Source",
    "Stream",
    "Usage",
    "agent_entity_id",
    "allow_model_requests",
    "attach_appearance",
    "attach_voice",
    "block_model_requests",
    "build_clone",
    "check_content",
    "clone_appearance",
    "clone_entity_id",
    "clone_voice",
    "cost",
    "errors",
    "extract_personality",
    "fan",
    "fan_entity_id",
    "holds_tokens",
    "inputs",
    "outputs",
    "packaged_model",
    "pending_messages",
    "providers",
    "receive_message",
    "record_clone",
    "run_agent",
    "shared_server",
]
