//! A streamed chat answer: the routed stream's chunks become client bytes (SSE, or one
//! JSON array for Gemini without `?alt=sse`), with acknowledged durability holding the
//! closing frames until the log record has committed.

use std::sync::Arc;

use ax_core::{ChatRequest, StreamChunk, StreamEvent};
use ax_providers::{ClientCodec, StreamEncoder};
use ax_router::{ChatStreamOp, RequestOptions, RoutedStream, Tracked};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::record::{LogExtras, not_committed};
use super::responses::{Keeper, Transcript};
use super::{Payload, Served, failed, served_headers};

/// How a stream's bytes leave the gateway.
pub(super) struct Delivery {
    /// Acknowledged durability: the record whose commit the end frames wait for.
    pub(super) ack: Option<Arc<LogExtras>>,
    /// One JSON array instead of SSE (Gemini without `?alt=sse`).
    pub(super) json_array: bool,
    /// A Responses answer ax is to keep once it has ended well.
    pub(super) keeper: Option<Keeper>,
}

pub(super) async fn stream_response(
    router: Arc<ax_router::Router>,
    codec: &'static dyn ClientCodec,
    request: ChatRequest,
    plan: ax_router::Plan,
    opts: RequestOptions,
    tracked: Tracked,
    delivery: Delivery,
) -> Served {
    let Delivery {
        ack,
        json_array,
        keeper,
    } = delivery;
    let format = codec.format();
    let encoder = codec.stream_encoder(&request);
    let include_usage = request.include_usage;
    let mut tracked = tracked;
    let routed = match router
        .execute(&ChatStreamOp::new(&request), plan, &opts, &mut tracked)
        .await
    {
        // From its first chunk on, the stream owns the request's lifecycle.
        Ok(start) => start.into_stream(tracked),
        Err(e) => return failed(tracked, format, e),
    };
    let mut headers = HeaderMap::new();
    served_headers(&mut headers, routed.context());
    let passthrough = routed.passes_through(format);
    let mut routed = routed;
    if !passthrough {
        super::chat::note_dropped(routed.context_mut(), &request.dropped_fields);
    }

    // Drive the routed stream, turning each chunk into client bytes.
    // A passed-through Responses stream is kept by its upstream, not by ax.
    let keeper = keeper
        .filter(|_| !passthrough)
        .map(|k| Box::new((k, Transcript::default())));
    let stream = async_stream_body(
        routed,
        encoder,
        passthrough,
        include_usage,
        codec,
        ack,
        keeper,
    );
    let (body, content_type) = if json_array {
        (
            Payload::Stream(Box::pin(super::json_array::json_array(stream))),
            "application/json",
        )
    } else {
        (Payload::Stream(Box::pin(stream)), "text/event-stream")
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Served {
        status: StatusCode::OK,
        headers,
        body,
    }
}

fn async_stream_body(
    routed: RoutedStream,
    encoder: Box<dyn StreamEncoder>,
    passthrough: bool,
    include_usage: bool,
    codec: &'static dyn ClientCodec,
    ack: Option<Arc<LogExtras>>,
    keeper: Option<Box<(Keeper, Transcript)>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    struct St {
        /// A Responses answer to keep: what keeps it and the answer so far.
        keeper: Option<Box<(Keeper, Transcript)>>,
        routed: RoutedStream,
        encoder: Box<dyn StreamEncoder>,
        done: bool,
        /// Acknowledged durability: where the record's commit signal appears.
        ack: Option<Arc<LogExtras>>,
        /// Acknowledged durability: frames that may end the answer (see below), held
        /// until more content follows or the record has committed.
        held: Vec<u8>,
    }
    let st = St {
        keeper,
        routed,
        encoder,
        done: false,
        ack,
        held: Vec::new(),
    };
    futures::stream::unfold(st, move |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            let mut out = Vec::new();
            match st.routed.next().await {
                Some(Ok(chunk)) => {
                    // Acknowledged: a frame with no content, or saying the answer is
                    // finished (`finish_reason`, `message_delta`, `message_stop`,
                    // `[DONE]`, Gemini's last chunk), waits for the commit; a later
                    // content frame releases it, in order.
                    let closing = st.ack.is_some() && closes_answer(&chunk);
                    if let Some(keeper) = st.keeper.as_mut() {
                        chunk.events.iter().for_each(|e| keeper.1.observe(e));
                    }
                    write_chunk(
                        &mut out,
                        &mut *st.encoder,
                        chunk,
                        passthrough,
                        include_usage,
                        codec,
                    );
                    if closing {
                        st.held.append(&mut out);
                    } else if !st.held.is_empty() {
                        st.held.append(&mut out);
                        out = std::mem::take(&mut st.held);
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    // The record of a failed stream is awaited too (its error is an
                    // answer); the stream fails either way.
                    if let Some(Err(commit_error)) = committed(st.ack.as_deref()).await {
                        tracing::error!(error = %commit_error, "log record of a failed stream not committed");
                    }
                    out = std::mem::take(&mut st.held);
                    st.encoder.error(&e, &mut out);
                }
                None => {
                    st.done = true;
                    // Kept before the last frames go out, so that a client continuing
                    // the conversation at once finds it.
                    if let Some(keeper) = st.keeper.take() {
                        let (keeper, transcript) = *keeper;
                        Box::pin(keeper.keep_stream(transcript)).await;
                    }
                    match committed(st.ack.as_deref()).await {
                        Some(Err(commit_error)) => {
                            // Never a silent success: the held end frames are dropped
                            // and the stream ends with an error event instead.
                            st.encoder.error(&not_committed(&commit_error), &mut out);
                        }
                        _ => {
                            out = std::mem::take(&mut st.held);
                            if !passthrough {
                                st.encoder.finish(&mut out);
                            }
                        }
                    }
                }
            }
            if !out.is_empty() {
                return Some((Ok(Bytes::from(out)), st));
            }
        }
    })
}

/// Whether a frame may be the end of the answer: it carries no content, or it says the
/// model finished. In acknowledged durability such frames wait for the commit.
fn closes_answer(chunk: &StreamChunk) -> bool {
    let finished = |e: &StreamEvent| matches!(e, StreamEvent::Finish { .. });
    !chunk.events.iter().any(StreamEvent::is_content) || chunk.events.iter().any(finished)
}

/// Waits for the commit of the record the finished stream queued (acknowledged
/// durability); `None` when there is nothing to wait for.
async fn committed(ack: Option<&LogExtras>) -> Option<Result<(), ax_store::StoreError>> {
    let commit = ack?.take_commit()?;
    Some(commit.await)
}

fn write_chunk(
    out: &mut Vec<u8>,
    encoder: &mut dyn StreamEncoder,
    chunk: StreamChunk,
    passthrough: bool,
    include_usage: bool,
    codec: &dyn ClientCodec,
) {
    match &chunk.raw {
        // Same format both sides: the upstream's frame as it came, unless the codec
        // filters it (OpenAI's forced usage chunk for a client that did not ask).
        Some(raw) if passthrough => {
            if codec.forwards(&chunk, include_usage) {
                out.extend_from_slice(raw);
            }
        }
        _ => {
            for event in &chunk.events {
                encoder.encode(event, out);
            }
        }
    }
}
