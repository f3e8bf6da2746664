"""The official SDKs, unmodified, against a running ax gateway.

Every client format (OpenAI, Anthropic, Gemini) is driven against every upstream format
(the mock upstream speaking OpenAI, Anthropic and Gemini, plus the built-in mock
provider), streaming and not, tool calls included. The SDKs are the judges: if ax's
wire format were off, they would raise or return empty objects.
"""

import json
import os

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

BASE = os.environ["AX_URL"]
PROMPT = "ping pong from the sdk test"

# Upstream targets: provider prefix selects the upstream wire format.
UPSTREAMS = [
    "mock/demo",
    "claude/claude-3-5-sonnet-20241022",
    "gemini/gemini-2.0-flash",
    "openai/gpt-4o-mini",
]

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}


@pytest.fixture(scope="module")
def oai():
    return openai.OpenAI(base_url=BASE + "/v1", api_key="sdk-test", max_retries=0)


@pytest.fixture(scope="module")
def claude():
    return anthropic.Anthropic(base_url=BASE, api_key="sdk-test", max_retries=0)


@pytest.fixture(scope="module")
def gem():
    return genai.Client(api_key="sdk-test", http_options=types.HttpOptions(base_url=BASE))


# ---------------------------------------------------------------- OpenAI SDK


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_chat(oai, model):
    r = oai.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": PROMPT},
        ],
        max_tokens=64,
    )
    assert r.object == "chat.completion"
    assert PROMPT[:20] in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_stream_with_usage(oai, model):
    chunks = list(
        oai.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert PROMPT[:20] in text
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_stream_without_usage_gets_no_usage_chunk(oai, model):
    chunks = list(
        oai.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
    )
    # `all()` of nothing is true: an empty stream must not pass.
    assert chunks, "the stream carried no chunk"
    assert all(c.choices for c in chunks), "no usage-only chunk unless asked"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert PROMPT[:20] in text


@pytest.mark.parametrize("model", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True])
def test_openai_tool_calls(oai, model, stream):
    kwargs = dict(
        model=model,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}],
        tool_choice="required",
    )
    if not stream:
        r = oai.chat.completions.create(**kwargs)
        call = r.choices[0].message.tool_calls[0]
        name, args, call_id = call.function.name, call.function.arguments, call.id
        assert r.choices[0].finish_reason == "tool_calls"
    else:
        name, args, call_id, finish = "", "", None, None
        for c in oai.chat.completions.create(stream=True, **kwargs):
            if not c.choices:
                continue
            for tc in c.choices[0].delta.tool_calls or []:
                call_id = call_id or tc.id
                if tc.function and tc.function.name:
                    name += tc.function.name
                if tc.function and tc.function.arguments:
                    args += tc.function.arguments
            finish = c.choices[0].finish_reason or finish
        assert finish == "tool_calls"
    assert name == "get_weather"
    assert isinstance(json.loads(args), dict)
    assert call_id

    # Send the tool result back: the follow-up turn must be accepted by every upstream.
    follow = oai.chat.completions.create(
        model=model,
        messages=kwargs["messages"]
        + [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}],
            },
            {"role": "tool", "tool_call_id": call_id, "content": '{"temp_c": 21}'},
        ],
        tools=kwargs["tools"],
    )
    assert follow.choices[0].message.content


def test_openai_embeddings(oai):
    for model in ["mock/embed", "openai/text-embedding-3-small", "gemini/text-embedding-004"]:
        r = oai.embeddings.create(model=model, input=["alpha", "beta"])
        assert len(r.data) == 2, model
        assert len(r.data[0].embedding) > 0
        assert r.data[1].index == 1


def test_openai_models_list(oai):
    ids = [m.id for m in oai.models.list()]
    assert any(i.startswith("mock/") for i in ids)


def test_openai_unknown_model_is_not_found(oai):
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="nope/unknown-model-xyz", messages=[{"role": "user", "content": "x"}])


def test_openai_bad_request(oai):
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="mock/demo", messages=[{"role": "wizard", "content": "x"}])


# ------------------------------------------------- OpenAI SDK: Responses API


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_responses_create(oai, model):
    r = oai.responses.create(
        model=model,
        instructions="be brief",
        input=PROMPT,
        max_output_tokens=64,
        store=False,
    )
    assert r.object == "response"
    assert r.status == "completed"
    assert PROMPT[:20] in r.output_text
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


@pytest.mark.parametrize("model", UPSTREAMS)
def test_openai_responses_stream(oai, model):
    kinds = []
    text = ""
    with oai.responses.stream(model=model, input=PROMPT, store=False) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
        final = stream.get_final_response()
    assert kinds[0] == "response.created"
    assert kinds[-1] == "response.completed"
    assert "response.output_item.added" in kinds and "response.output_item.done" in kinds
    assert PROMPT[:20] in text
    assert final.output_text == text
    assert final.usage.output_tokens > 0


@pytest.mark.parametrize("model", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True])
def test_openai_responses_function_calls(oai, model, stream):
    kwargs = dict(
        model=model,
        input=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[{"type": "function", "name": "get_weather", "parameters": WEATHER_SCHEMA, "strict": False}],
        tool_choice="required",
        store=False,
    )
    if stream:
        with oai.responses.stream(**kwargs) as s:
            for _ in s:
                pass
            r = s.get_final_response()
    else:
        r = oai.responses.create(**kwargs)
    calls = [item for item in r.output if item.type == "function_call"]
    assert calls, r.output
    call = calls[0]
    assert call.name == "get_weather"
    assert isinstance(json.loads(call.arguments), dict)

    follow = oai.responses.create(
        model=model,
        input=kwargs["input"]
        + [
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"temp_c": 21}'},
        ],
        tools=kwargs["tools"],
        store=False,
    )
    assert follow.output_text


def test_openai_responses_stored_conversation(oai):
    first = oai.responses.create(model="claude/claude-3-5-sonnet-20241022", input="My name is Ada.")
    got = oai.responses.retrieve(first.id)
    assert got.id == first.id and got.output_text == first.output_text
    second = oai.responses.create(
        model="gemini/gemini-2.0-flash", previous_response_id=first.id, input="What is my name?", store=False
    )
    assert second.output_text
    oai.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(first.id)


def test_openai_responses_bad_request(oai):
    with pytest.raises(openai.BadRequestError):
        oai.responses.create(model="claude/claude-3-5-sonnet-20241022", input=PROMPT, tools=[{"type": "web_search"}])


# ------------------------------------------------------------- Anthropic SDK


@pytest.mark.parametrize("model", UPSTREAMS)
def test_anthropic_messages(claude, model):
    m = claude.messages.create(
        model=model,
        max_tokens=64,
        system="be brief",
        messages=[{"role": "user", "content": PROMPT}],
    )
    assert m.type == "message" and m.role == "assistant"
    assert PROMPT[:20] in m.content[0].text
    assert m.stop_reason == "end_turn"
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_anthropic_stream(claude, model):
    with claude.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert PROMPT[:20] in text
    assert final.stop_reason == "end_turn"
    # Real input tokens arrive in the final message_delta even from non-Anthropic upstreams.
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


@pytest.mark.parametrize("model", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_use(claude, model, stream):
    kwargs = dict(
        model=model,
        max_tokens=128,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[{"name": "get_weather", "description": "weather", "input_schema": WEATHER_SCHEMA}],
        tool_choice={"type": "any"},
    )
    if stream:
        with claude.messages.stream(**kwargs) as s:
            m = s.get_final_message()
    else:
        m = claude.messages.create(**kwargs)
    uses = [b for b in m.content if b.type == "tool_use"]
    assert uses and uses[0].name == "get_weather"
    assert isinstance(uses[0].input, dict)
    assert m.stop_reason == "tool_use"
    follow = claude.messages.create(
        model=model,
        max_tokens=64,
        tools=kwargs["tools"],
        messages=kwargs["messages"]
        + [
            {"role": "assistant", "content": [b.model_dump() for b in uses]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "21 C"}],
            },
        ],
    )
    assert follow.content and follow.content[0].type == "text"


def test_anthropic_unknown_model(claude):
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="nope/xyz", max_tokens=5, messages=[{"role": "user", "content": "x"}])


# ---------------------------------------------------------------- Gemini SDK


@pytest.mark.parametrize("model", UPSTREAMS)
def test_gemini_generate(gem, model):
    r = gem.models.generate_content(
        model=model,
        contents=PROMPT,
        config=types.GenerateContentConfig(system_instruction="be brief", max_output_tokens=64),
    )
    assert PROMPT[:20] in r.text
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.usage_metadata.prompt_token_count > 0
    assert r.usage_metadata.candidates_token_count > 0


@pytest.mark.parametrize("model", UPSTREAMS)
def test_gemini_stream(gem, model):
    chunks = list(gem.models.generate_content_stream(model=model, contents=PROMPT))
    text = "".join(c.text or "" for c in chunks)
    assert PROMPT[:20] in text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.prompt_token_count > 0


@pytest.mark.parametrize("model", UPSTREAMS)
@pytest.mark.parametrize("stream", [False, True])
def test_gemini_function_calls(gem, model, stream):
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="weather",
                parameters=types.Schema(
                    type="OBJECT",
                    properties={"location": types.Schema(type="STRING")},
                    required=["location"],
                ),
            )
        ]
    )
    config = types.GenerateContentConfig(
        tools=[tool],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY")),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents = "What is the weather in Paris?"
    if stream:
        calls = []
        for c in gem.models.generate_content_stream(model=model, contents=contents, config=config):
            calls += c.function_calls or []
    else:
        calls = gem.models.generate_content(model=model, contents=contents, config=config).function_calls
    assert calls and calls[0].name == "get_weather"
    assert isinstance(calls[0].args, dict)
    follow = gem.models.generate_content(
        model=model,
        contents=[
            types.Content(role="user", parts=[types.Part(text=contents)]),
            types.Content(role="model", parts=[types.Part(function_call=calls[0])]),
            types.Content(
                role="user",
                parts=[types.Part.from_function_response(name="get_weather", response={"temp_c": 21})],
            ),
        ],
        config=types.GenerateContentConfig(tools=[tool]),
    )
    assert follow.text


def test_gemini_unknown_model(gem):
    with pytest.raises(genai_errors.ClientError) as e:
        gem.models.generate_content(model="nope/xyz", contents="x")
    assert e.value.code == 404


# ------------------------------------------------------------ token counting


@pytest.mark.parametrize("model", UPSTREAMS)
def test_anthropic_count_tokens(claude, model):
    raw = claude.messages.with_raw_response.count_tokens(
        model=model,
        system="be brief",
        messages=[{"role": "user", "content": PROMPT}],
    )
    count = raw.parse()
    assert count.input_tokens > 0
    # Anthropic and Gemini count natively, OpenAI models with tiktoken, the mock with its
    # own estimate: every one of these is the model's own count.
    assert raw.headers["x-ax-tokens-exact"] == "true"
    assert raw.headers["x-ax-provider"] == model.split("/")[0]
    # The same prompt plus a tool counts more.
    with_tool = claude.messages.count_tokens(
        model=model,
        system="be brief",
        messages=[{"role": "user", "content": PROMPT}],
        tools=[{"name": "get_weather", "description": "weather", "input_schema": WEATHER_SCHEMA}],
    )
    assert with_tool.input_tokens >= count.input_tokens


def test_anthropic_count_tokens_unknown_model(claude):
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.count_tokens(model="nope/xyz", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize("model", UPSTREAMS)
def test_gemini_count_tokens(gem, model):
    r = gem.models.count_tokens(model=model, contents=PROMPT)
    assert r.total_tokens > 0
