//! `ax route explain <model>`.

use std::process::ExitCode;

use serde::Serialize;

use crate::api::{Explain, PlanEntry, circuit_tone, health_tone};
use crate::cli::ExplainArgs;
use crate::client::AdminClient;
use crate::output::{Style, Tone, outln, print_json};

/// `ax route explain --json`: the dry-run shape of DESIGN §3 plus the model.
#[derive(Serialize)]
struct ExplainOut<'a> {
    dry_run: bool,
    model: &'a str,
    fallback: bool,
    plan: &'a [PlanEntry],
}

/// `ax route explain`.
pub async fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(&args.server.url)?;
    let mut query = vec![("model", args.model.as_str())];
    if args.no_fallback {
        query.push(("fallback", "off"));
    }
    let answer: Explain = client.get("admin/routes/explain", &query).await?;
    if args.json {
        print_json(&ExplainOut {
            dry_run: true,
            model: &answer.model,
            fallback: !args.no_fallback,
            plan: &answer.plan,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = Style::detect();
    let mut t = s.table(["#", "PROVIDER", "MODEL", "HEALTH", "CIRCUIT", "FROM"]);
    for (i, p) in answer.plan.iter().enumerate() {
        t.add_row(vec![
            s.num(i + 1),
            s.cell(&p.provider, Tone::Plain),
            s.cell(&p.model, Tone::Plain),
            s.cell(&p.health, health_tone(&p.health)),
            s.cell(&p.circuit, circuit_tone(&p.circuit)),
            s.cell(
                if p.is_fallback {
                    "fallback chain"
                } else {
                    "plan"
                },
                Tone::Dim,
            ),
        ]);
    }
    outln!(
        "{} → {} target(s){}",
        answer.model,
        answer.plan.len(),
        if args.no_fallback {
            " (fallback off)"
        } else {
            ""
        }
    )?;
    s.print_table(&t)?;
    Ok(ExitCode::SUCCESS)
}
