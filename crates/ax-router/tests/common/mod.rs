//! Fake providers for the executor tests: each call pops the next scripted behaviour
//! (or repeats the default), counts calls, and notices when its future or stream is
//! dropped before the end (cancellation).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ax_core::lifecycle::{Context, Event, EventKind, State};
use ax_core::{
    ChatOutcome, ChatRequest, ChatResponse, ChatStream, ContentPart, Embedding, EmbeddingInput,
    EmbeddingRequest, EmbeddingResponse, ErrorCode, FinishReason, GatewayError, Message, Provider,
    ProviderKind, RequestId, Role, StreamChunk, StreamEvent, Usage,
};
use ax_router::{ProviderSettings, RequestOptions, RoutedStream, Router, RouterConfig, Tracked};
use futures::StreamExt as _;

/// What one call does.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// Answers (chat: text + usage; stream: the default chunks; embed: vectors).
    Answer,
    /// Answers without usage.
    AnswerNoUsage,
    /// Fails with this error (stream: before the stream opens).
    Fail(GatewayError),
    /// Streams these steps (chat/embed: treated as `Answer`).
    Stream(Vec<Step>),
    /// Never answers.
    Hang,
    /// Waits, then behaves.
    Delay(Duration, Box<Behavior>),
}

/// One step of a scripted stream.
#[derive(Debug, Clone)]
pub enum Step {
    /// A chunk with these events.
    Chunk(Vec<StreamEvent>),
    /// A text chunk.
    Text(&'static str),
    /// An error item (the stream ends).
    Err(GatewayError),
    /// A pause.
    Sleep(Duration),
    /// Never yields again.
    Hang,
}

pub fn delay(ms: u64, b: Behavior) -> Behavior {
    Behavior::Delay(Duration::from_millis(ms), Box::new(b))
}

pub fn err(code: ErrorCode) -> GatewayError {
    GatewayError::new(code, format!("scripted {code}"))
}

pub fn upstream(code: ErrorCode, status: u16) -> Behavior {
    Behavior::Fail(err(code).with_status(status))
}

pub struct Fake {
    name: String,
    kind: ProviderKind,
    default_model: String,
    script: Mutex<VecDeque<Behavior>>,
    fallback: Mutex<Behavior>,
    pub calls: AtomicUsize,
    pub cancelled: AtomicUsize,
    pub streams_dropped: Arc<AtomicUsize>,
    pub models: Mutex<Vec<String>>,
}

impl Fake {
    pub fn new(name: &str, kind: ProviderKind) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            kind,
            default_model: format!("{name}-default"),
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(Behavior::Answer),
            calls: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            streams_dropped: Arc::new(AtomicUsize::new(0)),
            models: Mutex::new(Vec::new()),
        })
    }

    /// Queues behaviours for the next calls.
    pub fn script(self: &Arc<Self>, items: impl IntoIterator<Item = Behavior>) -> Arc<Self> {
        self.script.lock().unwrap().extend(items);
        Arc::clone(self)
    }

    /// What every call does once the script is used up.
    pub fn always(self: &Arc<Self>, b: Behavior) -> Arc<Self> {
        *self.fallback.lock().unwrap() = b;
        Arc::clone(self)
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn streams_dropped(&self) -> usize {
        self.streams_dropped.load(Ordering::SeqCst)
    }

    fn next(&self, model: &str) -> Behavior {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.models.lock().unwrap().push(model.to_owned());
        let scripted = self.script.lock().unwrap().pop_front();
        scripted.unwrap_or_else(|| self.fallback.lock().unwrap().clone())
    }

    /// Resolves delays and hangs; `None` never happens (hang pends forever).
    async fn resolve(&self, mut b: Behavior) -> Behavior {
        loop {
            match b {
                Behavior::Delay(d, inner) => {
                    tokio::time::sleep(d).await;
                    b = *inner;
                }
                Behavior::Hang => futures::future::pending::<()>().await,
                other => return other,
            }
        }
    }

    fn with_provider(&self, e: GatewayError) -> GatewayError {
        e.with_provider(self.name.clone())
    }
}

/// Counts a call future dropped before it finished.
struct CancelGuard<'a> {
    fake: &'a Fake,
    done: bool,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.fake.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Counts a stream dropped before it ended.
struct StreamGuard {
    fake: Arc<AtomicUsize>,
    ended: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.ended {
            self.fake.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub fn text_response(model: &str, text: &str, usage: Usage) -> ChatResponse {
    ChatResponse {
        id: "resp".into(),
        model: model.to_owned(),
        created: 0,
        content: vec![ContentPart::text(text)],
        finish_reason: FinishReason::Stop,
        stop_sequence: None,
        usage,
    }
}

pub fn usage(i: u64, o: u64) -> Usage {
    Usage {
        input_tokens: i,
        output_tokens: o,
        ..Usage::default()
    }
}

pub fn default_steps(name: &str) -> Vec<Step> {
    vec![
        Step::Chunk(vec![StreamEvent::Start {
            id: "s".into(),
            model: name.to_owned(),
            created: 0,
        }]),
        Step::Text("hello "),
        Step::Text("world"),
        Step::Chunk(vec![
            StreamEvent::Finish {
                reason: FinishReason::Stop,
                stop_sequence: None,
            },
            StreamEvent::Usage(usage(7, 3)),
        ]),
    ]
}

#[async_trait]
impl Provider for Fake {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn default_model(&self) -> &str {
        &self.default_model
    }

    async fn chat(&self, _request: &ChatRequest, model: &str) -> Result<ChatOutcome, GatewayError> {
        let b = self.next(model);
        let mut guard = CancelGuard {
            fake: self,
            done: false,
        };
        let b = self.resolve(b).await;
        guard.done = true;
        let text = format!("answer from {}", self.name);
        match b {
            Behavior::Fail(e) => Err(self.with_provider(e)),
            Behavior::AnswerNoUsage => Ok(ChatOutcome {
                response: text_response(model, &text, Usage::default()),
                raw: None,
            }),
            _ => Ok(ChatOutcome {
                response: text_response(model, &text, usage(10, 5)),
                raw: None,
            }),
        }
    }

    async fn chat_stream(
        &self,
        _request: &ChatRequest,
        model: &str,
    ) -> Result<ChatStream, GatewayError> {
        let b = self.next(model);
        let mut guard = CancelGuard {
            fake: self,
            done: false,
        };
        let b = self.resolve(b).await;
        guard.done = true;
        let steps = match b {
            Behavior::Fail(e) => return Err(self.with_provider(e)),
            Behavior::Stream(steps) => steps,
            Behavior::AnswerNoUsage => default_steps(&self.name)
                .into_iter()
                .filter(|s| !matches!(s, Step::Chunk(ev) if ev.iter().any(|e| matches!(e, StreamEvent::Usage(_)))))
                .collect(),
            _ => default_steps(&self.name),
        };
        let guard = StreamGuard {
            fake: Arc::clone(&self.streams_dropped),
            ended: false,
        };
        let provider = self.name.clone();
        let state = (VecDeque::from(steps), guard, provider);
        let stream =
            futures::stream::unfold(state, |(mut steps, mut guard, provider)| async move {
                loop {
                    match steps.pop_front() {
                        None => {
                            guard.ended = true;
                            drop(guard);
                            return None;
                        }
                        Some(Step::Sleep(d)) => tokio::time::sleep(d).await,
                        Some(Step::Hang) => futures::future::pending::<()>().await,
                        Some(Step::Text(t)) => {
                            let chunk = StreamChunk {
                                events: vec![StreamEvent::TextDelta { text: t.to_owned() }],
                                raw: None,
                            };
                            return Some((Ok(chunk), (steps, guard, provider)));
                        }
                        Some(Step::Chunk(events)) => {
                            let chunk = StreamChunk { events, raw: None };
                            return Some((Ok(chunk), (steps, guard, provider)));
                        }
                        Some(Step::Err(e)) => {
                            guard.ended = true;
                            steps.clear();
                            return Some((
                                Err(e.with_provider(provider.clone())),
                                (steps, guard, provider),
                            ));
                        }
                    }
                }
            });
        Ok(Box::pin(stream))
    }

    async fn embed(
        &self,
        request: &EmbeddingRequest,
        model: &str,
    ) -> Result<EmbeddingResponse, GatewayError> {
        let b = self.next(model);
        match self.resolve(b).await {
            Behavior::Fail(e) => Err(self.with_provider(e)),
            b => Ok(EmbeddingResponse {
                model: model.to_owned(),
                data: request
                    .input
                    .texts()
                    .iter()
                    .enumerate()
                    .map(|(i, _)| Embedding {
                        index: i as u32,
                        vector: vec![0.5, 0.25],
                    })
                    .collect(),
                usage: if matches!(b, Behavior::AnswerNoUsage) {
                    Usage::default()
                } else {
                    usage(4, 0)
                },
            }),
        }
    }

    async fn probe(&self) -> Result<(), GatewayError> {
        Ok(())
    }
}

/// Settings for a fake provider.
pub fn settings(
    name: &str,
    kind: ProviderKind,
    models: &[&str],
    priority: i32,
) -> ProviderSettings {
    ProviderSettings {
        name: name.to_owned(),
        kind,
        models: models.iter().map(|s| (*s).to_owned()).collect(),
        priority,
        ..ProviderSettings::default()
    }
}

/// A config for tests: zero jitter, no fallback chain, the given providers.
pub fn config(providers: Vec<ProviderSettings>) -> RouterConfig {
    RouterConfig {
        providers,
        primary_provider: None,
        fallback_chain: Vec::new(),
        jitter: false,
        ..RouterConfig::default()
    }
}

/// Options with fallback off: a request runs its own target only.
pub const OFF: RequestOptions = RequestOptions {
    fallback: false,
    deadline: None,
    allowed_models: None,
};

/// Providers `a` (openai, `gpt-*`) and `b` (anthropic, `claude-*`, the fallback chain),
/// then `tweak`.
pub fn ab_config(tweak: impl FnOnce(&mut RouterConfig)) -> RouterConfig {
    let mut c = config(vec![
        settings("a", ProviderKind::OpenAi, &["gpt-*"], 1),
        settings("b", ProviderKind::Anthropic, &["claude-*"], 2),
    ]);
    c.fallback_chain = vec!["b".into()];
    tweak(&mut c);
    c
}

/// The fakes for [`ab_config`]'s providers `a` and `b`.
pub fn ab_fakes() -> (Arc<Fake>, Arc<Fake>) {
    (
        Fake::new("a", ProviderKind::OpenAi),
        Fake::new("b", ProviderKind::Anthropic),
    )
}

/// A router over [`ab_config`] and its two fakes.
pub fn ab(tweak: impl FnOnce(&mut RouterConfig)) -> (Arc<Router>, Arc<Fake>, Arc<Fake>) {
    let (a, b) = ab_fakes();
    let r = Router::new(ab_config(tweak), as_dyn(&[&a, &b])).unwrap();
    (Arc::new(r), a, b)
}

/// One tracked chat through `r`: its answer's text or error, and the finished context.
pub async fn chat(
    r: &Router,
    model: &str,
    opts: RequestOptions,
) -> (Result<String, GatewayError>, Hook) {
    let (mut t, hook) = tracked();
    let res = r.chat(&chat_request(model), &opts, &mut t).await;
    t.finish();
    (res.map(|o| o.response.text()), hook)
}

/// The text deltas of a stream's chunks, joined.
pub fn text(items: &[Result<StreamChunk, GatewayError>]) -> String {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .flat_map(|c| c.events.iter())
        .filter_map(|e| match e {
            StreamEvent::TextDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// Reads `s` to its end; returns its text.
pub async fn drain_text(s: RoutedStream) -> String {
    let items: Vec<_> = s.collect().await;
    text(&items)
}

pub fn as_dyn(fakes: &[&Arc<Fake>]) -> Vec<Arc<dyn Provider>> {
    fakes
        .iter()
        .map(|f| Arc::clone(*f) as Arc<dyn Provider>)
        .collect()
}

/// Records every context the finish hook receives.
#[derive(Clone, Default)]
pub struct Hook(pub Arc<Mutex<Vec<Context>>>);

impl Hook {
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn only(&self) -> Context {
        let v = self.0.lock().unwrap();
        assert_eq!(v.len(), 1, "the hook must run exactly once");
        v[0].clone()
    }
}

/// A request as the server hands it to the router: initiated and validated.
pub fn tracked() -> (Tracked, Hook) {
    let hook = Hook::default();
    let h = hook.clone();
    let mut t = Tracked::new(
        Context::new(RequestId::new()),
        Box::new(move |c| h.0.lock().unwrap().push(c)),
    );
    assert!(t.apply(Event::InitiateRequest));
    assert!(t.apply(Event::ValidationPassed));
    (t, hook)
}

pub fn chat_request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![Message::text(Role::User, "hello there, router")],
        ..ChatRequest::default()
    }
}

pub fn embed_request(model: &str) -> EmbeddingRequest {
    EmbeddingRequest {
        model: model.to_owned(),
        input: EmbeddingInput::Batch(vec!["alpha".into(), "beta gamma".into()]),
        dimensions: None,
        user: None,
    }
}

/// The states visited, after `Requesting` was entered by validation.
pub fn states(ctx: &Context) -> Vec<State> {
    ctx.timeline.iter().skip(2).map(|e| e.state).collect()
}

/// The events applied, after initiation and validation.
pub fn events(ctx: &Context) -> Vec<EventKind> {
    ctx.timeline.iter().skip(2).map(|e| e.event).collect()
}
