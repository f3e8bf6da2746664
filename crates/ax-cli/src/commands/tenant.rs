//! `ax tenant create | list | show | update | suspend | activate | decommission |
//! delete`: tenants, written straight to the store (the server need not run; a running
//! server sharing the store sees each change within a second). Every change is
//! audited with the actor `cli:$USER`.

use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context as _;
use ax_core::TenantId;
use ax_core::tenant::{Quotas, TenantStatus};
use ax_store::Store;
use ax_store::tenancy::{ApiKey, NewTenant, Page, Tenant, TenantPatch, TenantStore as _};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::cli::StoreArgs;
use crate::error::usage;
use crate::output::{NONE, StdoutError, Style, Tone, outln, print_json, short_time};

/// `ax tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (active unless --status says otherwise).
    #[command(
        after_help = "Examples:\n  ax tenant create team-a --name \"Team A\" --rpm 600 --tpd 2000000\n  ax tenant create team-b --budget-usd 250 --json"
    )]
    Create(CreateArgs),
    /// List tenants, oldest first.
    #[command(after_help = "Examples:\n  ax tenant list\n  ax tenant list --limit 50 --json")]
    List(ListArgs),
    /// Show a tenant and its keys.
    #[command(after_help = "Examples:\n  ax tenant show team-a --json")]
    Show(SlugArgs),
    /// Change a tenant's name or limits (`none` removes a limit).
    #[command(after_help = "Examples:\n  ax tenant update team-a --rpm 1200 --tpd none")]
    Update(UpdateArgs),
    /// Refuse the tenant's requests (403) until it is activated again.
    Suspend(SlugArgs),
    /// Let a provisioning or suspended tenant make requests.
    Activate(SlugArgs),
    /// Retire a tenant for good (its keys get 403; it cannot be activated again).
    Decommission(SlugArgs),
    /// Delete a tenant and all its keys.
    #[command(after_help = "Examples:\n  ax tenant delete team-a --yes")]
    Delete(DeleteArgs),
}

/// A limit on the command line: a number, or `none` for unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit(pub Option<f64>);

impl FromStr for Limit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "unlimited" => Ok(Limit(None)),
            _ => s
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| Limit(Some(v)))
                .ok_or_else(|| format!("`{s}` is not a number >= 0 or `none`")),
        }
    }
}

impl Limit {
    fn count(self) -> Option<u64> {
        // Saturating float-to-int: limits are whole counts.
        self.0.map(|v| v as u64)
    }
}

/// `ax tenant create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Unique slug: a-z, 0-9 and '-'.
    pub slug: String,
    /// Display name (default: the slug).
    #[arg(long)]
    pub name: Option<String>,
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Tokens per day (UTC).
    #[arg(long)]
    pub tpd: Option<u64>,
    /// Monthly budget in US dollars.
    #[arg(long)]
    pub budget_usd: Option<f64>,
    /// Initial status: provisioning or active.
    #[arg(long, default_value = "active")]
    pub status: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax tenant list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// At most this many tenants.
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// Only tenants created after this tenant ID (pagination).
    #[arg(long)]
    pub after: Option<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Commands that name one tenant.
#[derive(Debug, Args)]
pub struct SlugArgs {
    /// Tenant slug (or ID).
    pub slug: String,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax tenant update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Tenant slug (or ID).
    pub slug: String,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Requests per minute, or `none`.
    #[arg(long)]
    pub rpm: Option<Limit>,
    /// Tokens per minute, or `none`.
    #[arg(long)]
    pub tpm: Option<Limit>,
    /// Tokens per day, or `none`.
    #[arg(long)]
    pub tpd: Option<Limit>,
    /// Monthly budget in US dollars, or `none`.
    #[arg(long)]
    pub budget_usd: Option<Limit>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ax tenant delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Tenant slug (or ID).
    pub slug: String,
    /// Confirm: the tenant and every key of it are deleted.
    #[arg(long)]
    pub yes: bool,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The audit actor of CLI changes.
pub fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// A tenant by slug or ID, or a usage error.
pub async fn find(store: &Store, which: &str) -> anyhow::Result<Tenant> {
    let found = match which.parse::<TenantId>() {
        Ok(id) => store.tenant(id).await?,
        Err(_) => store.tenant_by_slug(which).await?,
    };
    found.ok_or_else(|| usage(format!("no tenant `{which}` (see `ax tenant list`)")))
}

fn fmt_limit(v: Option<impl std::fmt::Display>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| NONE.into())
}

fn status_tone(s: TenantStatus) -> Tone {
    match s {
        TenantStatus::Active => Tone::Good,
        TenantStatus::Provisioning => Tone::Warn,
        TenantStatus::Suspended | TenantStatus::Decommissioned => Tone::Bad,
    }
}

fn print_tenants(tenants: &[Tenant]) -> Result<(), StdoutError> {
    let s = Style::detect();
    let mut t = s.table([
        "SLUG", "NAME", "STATUS", "RPM", "TPM", "TPD", "BUDGET $", "CREATED", "ID",
    ]);
    for x in tenants {
        t.add_row(vec![
            s.cell(&x.slug, Tone::Plain),
            s.cell(&x.name, Tone::Plain),
            s.cell(x.status, status_tone(x.status)),
            s.num(fmt_limit(x.quotas.rpm)),
            s.num(fmt_limit(x.quotas.tpm)),
            s.num(fmt_limit(x.quotas.tpd)),
            s.num(fmt_limit(x.quotas.monthly_budget_usd)),
            s.cell(short_time(&x.created_at), Tone::Dim),
            s.cell(x.id, Tone::Dim),
        ]);
    }
    s.keep_whole(&mut t, &[8]);
    s.print_table(&t)
}

/// Prints keys as a table (shared with `ax key list`).
pub fn print_keys(keys: &[(ApiKey, String)]) -> Result<(), StdoutError> {
    let s = Style::detect();
    let mut t = s.table([
        "PREFIX",
        "TENANT",
        "NAME",
        "MODELS",
        "RPM",
        "TPM",
        "EXPIRES",
        "STATE",
        "LAST USED",
        "ID",
    ]);
    let now = ax_store::timestamp::now();
    for (k, tenant) in keys {
        let (state, tone) = if k.revoked {
            ("revoked", Tone::Bad)
        } else if k.expires_at.as_deref().is_some_and(|e| e <= now.as_str()) {
            ("expired", Tone::Bad)
        } else {
            ("active", Tone::Good)
        };
        t.add_row(vec![
            s.cell(&k.prefix, Tone::Plain),
            s.cell(tenant, Tone::Plain),
            s.cell(k.name.as_deref().unwrap_or(NONE), Tone::Plain),
            s.cell(
                k.allowed_models
                    .as_ref()
                    .map(|m| m.join(","))
                    .unwrap_or_else(|| "*".into()),
                Tone::Plain,
            ),
            s.num(fmt_limit(k.rpm)),
            s.num(fmt_limit(k.tpm)),
            s.cell(
                k.expires_at
                    .as_deref()
                    .map(short_time)
                    .unwrap_or_else(|| NONE.into()),
                Tone::Dim,
            ),
            s.cell(state, tone),
            s.cell(
                k.last_used_at
                    .as_deref()
                    .map(short_time)
                    .unwrap_or_else(|| NONE.into()),
                Tone::Dim,
            ),
            s.cell(k.id, Tone::Dim),
        ]);
    }
    s.keep_whole(&mut t, &[0, 9]);
    s.print_table(&t)
}

fn done(json: bool, tenant: &Tenant, verb: &str) -> anyhow::Result<ExitCode> {
    if json {
        print_json(tenant)?;
    } else {
        outln!(
            "{verb} tenant {} ({}, {})",
            tenant.slug,
            tenant.status,
            tenant.id
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `ax tenant …`.
pub async fn run(cmd: TenantCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TenantCommand::Create(a) => {
            let status: TenantStatus = a.status.parse().map_err(|e| usage(format!("{e}")))?;
            if !matches!(status, TenantStatus::Active | TenantStatus::Provisioning) {
                return Err(usage("a new tenant is `active` or `provisioning`"));
            }
            let store = crate::store::open_existing(&a.store.database_url).await?;
            let t = store
                .create_tenant(
                    &NewTenant {
                        slug: a.slug.clone(),
                        name: a.name,
                        status,
                        quotas: Quotas {
                            rpm: a.rpm,
                            tpm: a.tpm,
                            tpd: a.tpd,
                            monthly_budget_usd: a.budget_usd,
                        },
                    },
                    &actor(),
                )
                .await
                .with_context(|| format!("cannot create tenant `{}`", a.slug))?;
            store.close().await;
            done(a.json, &t, "created")
        }
        TenantCommand::List(a) => {
            let after = a
                .after
                .as_deref()
                .map(|s| {
                    s.parse::<TenantId>()
                        .map_err(|_| usage("--after takes a tenant ID"))
                })
                .transpose()?;
            let store = crate::store::open_existing(&a.store.database_url).await?;
            let list = store
                .list_tenants(Page {
                    limit: Some(a.limit),
                    after,
                })
                .await?;
            store.close().await;
            if a.json {
                print_json(&list)?;
            } else if list.is_empty() {
                outln!("no tenants (create one: ax tenant create <slug>)")?;
            } else {
                print_tenants(&list)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        TenantCommand::Show(a) => {
            let store = crate::store::open_existing(&a.store.database_url).await?;
            let t = find(&store, &a.slug).await?;
            let keys = store.list_keys(Some(t.id)).await?;
            store.close().await;
            if a.json {
                let mut v = serde_json::to_value(&t)?;
                if let serde_json::Value::Object(m) = &mut v {
                    m.insert("keys".into(), json!(keys));
                }
                print_json(&v)?;
            } else {
                print_tenants(std::slice::from_ref(&t))?;
                if keys.is_empty() {
                    outln!("\nno keys (create one: ax key create --tenant {})", t.slug)?;
                } else {
                    outln!()?;
                    let rows: Vec<_> = keys.into_iter().map(|k| (k, t.slug.clone())).collect();
                    print_keys(&rows)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TenantCommand::Update(a) => {
            let patch = TenantPatch {
                name: a.name,
                rpm: a.rpm.map(Limit::count),
                tpm: a.tpm.map(Limit::count),
                tpd: a.tpd.map(Limit::count),
                monthly_budget_usd: a.budget_usd.map(|l| l.0),
            };
            if patch == TenantPatch::default() {
                return Err(usage(
                    "nothing to update: pass --name, --rpm, --tpm, --tpd or --budget-usd",
                ));
            }
            let store = crate::store::open_existing(&a.store.database_url).await?;
            let t = find(&store, &a.slug).await?;
            let t = store.update_tenant(t.id, &patch, &actor()).await?;
            store.close().await;
            done(a.json, &t, "updated")
        }
        TenantCommand::Suspend(a) => status(a, TenantStatus::Suspended, "suspended").await,
        TenantCommand::Activate(a) => status(a, TenantStatus::Active, "activated").await,
        TenantCommand::Decommission(a) => {
            status(a, TenantStatus::Decommissioned, "decommissioned").await
        }
        TenantCommand::Delete(a) => {
            if !a.yes {
                return Err(usage(format!(
                    "deleting tenant `{}` deletes all its keys: add --yes to confirm",
                    a.slug
                )));
            }
            let store = crate::store::open_existing(&a.store.database_url).await?;
            let t = find(&store, &a.slug).await?;
            let keys = store.list_keys(Some(t.id)).await?.len();
            let t = store.delete_tenant(t.id, &actor()).await?;
            store.close().await;
            if a.json {
                print_json(&json!({"deleted": true, "tenant": t, "keys_deleted": keys}))?;
            } else {
                outln!("deleted tenant {} and its {keys} key(s)", t.slug)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn status(a: SlugArgs, to: TenantStatus, verb: &str) -> anyhow::Result<ExitCode> {
    let store = crate::store::open_existing(&a.store.database_url).await?;
    let t = find(&store, &a.slug).await?;
    let result = store.set_tenant_status(t.id, to, &actor()).await;
    store.close().await;
    let t = result.with_context(|| format!("cannot change tenant `{}`", a.slug))?;
    done(a.json, &t, verb)
}
