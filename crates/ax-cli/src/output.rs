//! Terminal output: aligned, coloured tables on a terminal and plain, space-aligned
//! columns when piped; `NO_COLOR`/`CLICOLOR_FORCE` honoured (through anstream's
//! detection); spinners on stderr only when stderr is a terminal; JSON printing.
//!
//! Everything a command prints to stdout goes through [`write_stdout`] (the [`outln!`]
//! and [`out!`] macros, [`Style::print_table`], [`print_json`]), which returns a
//! [`StdoutError`] instead of panicking as `println!` does. `main` ends the command
//! quietly with status 0 when that error is a closed pipe (`ax provider logs | head`),
//! as `ls | head` does. Handling it at each call site instead was rejected: one
//! forgotten `println!` is one more panic. `clippy::print_stdout` (denied in `main.rs`)
//! keeps `println!` out of the other modules.

use std::fmt::{self, Display};
use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use anstream::ColorChoice;
use comfy_table::{Cell, CellAlignment, Color, ContentArrangement, Table, modifiers, presets};
use indicatif::{ProgressBar, ProgressStyle};
use owo_colors::OwoColorize;
use serde::Serialize;

/// `println!` that returns a [`StdoutError`] instead of panicking (see the module doc).
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// `print!` that returns a [`StdoutError`] instead of panicking (see the module doc).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// How a value should look: its meaning, which becomes a colour on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// No colour.
    Plain,
    /// Good news (green).
    Good,
    /// Needs attention (yellow).
    Warn,
    /// Bad news (red).
    Bad,
    /// Secondary information (grey).
    Dim,
}

/// What stdout can show, decided once per command.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// stdout is a terminal: draw table borders.
    pub tty: bool,
    /// Colours are wanted (terminal, `NO_COLOR` unset, or `CLICOLOR_FORCE`).
    pub color: bool,
}

impl Style {
    /// Detects the style of stdout.
    pub fn detect() -> Self {
        let out = std::io::stdout();
        Self {
            tty: out.is_terminal(),
            color: anstream::AutoStream::choice(&out) != ColorChoice::Never,
        }
    }

    /// A table with `header`: rounded borders on a terminal, bare columns otherwise.
    pub fn table<I: Display>(&self, header: impl IntoIterator<Item = I>) -> Table {
        let mut table = Table::new();
        if self.tty {
            table
                .load_preset(presets::UTF8_FULL_CONDENSED)
                .apply_modifier(modifiers::UTF8_ROUND_CORNERS);
            // Wrap to the terminal's width only when it reports a usable one (a pty
            // without a size reports 0, which would wrap every letter).
            let arrangement = match table.width() {
                Some(w) if w >= 40 => ContentArrangement::Dynamic,
                _ => ContentArrangement::Disabled,
            };
            table.set_content_arrangement(arrangement);
        } else {
            table
                .load_preset(presets::NOTHING)
                .set_content_arrangement(ContentArrangement::Disabled)
                .force_no_tty();
        }
        if self.color {
            // Colours were decided above (CLICOLOR_FORCE may want them when piped).
            table.enforce_styling();
            table.style_text_only();
        }
        let header: Vec<Cell> = header
            .into_iter()
            .map(|h| {
                let cell = Cell::new(h);
                if self.color {
                    cell.add_attribute(comfy_table::Attribute::Bold)
                } else {
                    cell
                }
            })
            .collect();
        table.set_header(header);
        if !self.tty {
            for col in table.column_iter_mut() {
                col.set_padding((0, 2));
            }
        }
        table
    }

    /// Keeps the columns at `indexes` unwrapped (IDs, timestamps) on a terminal.
    pub fn keep_whole(&self, table: &mut Table, indexes: &[usize]) {
        for &i in indexes {
            if let Some(col) = table.column_mut(i) {
                col.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
            }
        }
    }

    /// A cell whose colour follows `tone` when colours are on.
    pub fn cell(&self, text: impl Display, tone: Tone) -> Cell {
        let cell = Cell::new(text);
        if !self.color {
            return cell;
        }
        match tone {
            Tone::Plain => cell,
            Tone::Good => cell.fg(Color::Green),
            Tone::Warn => cell.fg(Color::Yellow),
            Tone::Bad => cell.fg(Color::Red),
            Tone::Dim => cell.fg(Color::DarkGrey),
        }
    }

    /// A right-aligned (numeric) cell.
    pub fn num(&self, text: impl Display) -> Cell {
        Cell::new(text).set_alignment(CellAlignment::Right)
    }

    /// Colours `text` by `tone` for a line of text (not a table).
    pub fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.color {
            return text.to_owned();
        }
        match tone {
            Tone::Plain => text.to_owned(),
            Tone::Good => text.green().to_string(),
            Tone::Warn => text.yellow().to_string(),
            Tone::Bad => text.red().bold().to_string(),
            Tone::Dim => text.dimmed().to_string(),
        }
    }

    /// Prints a table to stdout (trailing spaces trimmed when plain).
    pub fn print_table(&self, table: &Table) -> Result<(), StdoutError> {
        if self.tty {
            outln!("{table}")
        } else {
            outln!("{}", table.trim_fmt())
        }
    }
}

/// Writing to stdout failed; a closed pipe ([`StdoutError::is_closed_pipe`]) is not a
/// failure of the command.
#[derive(Debug)]
pub struct StdoutError(std::io::Error);

impl StdoutError {
    /// The reader of stdout went away (`| head`): end quietly with status 0.
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

impl Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot write to stdout")
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Whether `err` (or one of its causes) is a write to a closed stdout pipe.
pub fn is_closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<StdoutError>()
            .is_some_and(StdoutError::is_closed_pipe)
    })
}

/// Writes `args` to stdout and flushes it. Colour escapes are stripped unless stdout
/// wants them (anstream's detection, the same that [`Style::detect`] uses).
pub fn write_stdout(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    let mut out = anstream::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// A spinner on stderr with `message`, drawn only when stderr is a terminal.
pub fn spinner(message: impl Into<String>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(message.into());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(80));
    bar
}

/// `-` for a missing value.
pub const NONE: &str = "-";

/// Milliseconds for a table, rounded; `-` when unknown.
pub fn ms_f(v: Option<f64>) -> String {
    v.map_or_else(|| NONE.to_owned(), |v| format!("{v:.0} ms"))
}

/// Milliseconds for a table; `-` when unknown.
pub fn ms_i(v: Option<i64>) -> String {
    v.map_or_else(|| NONE.to_owned(), |v| format!("{v} ms"))
}

/// A cost in USD for a table: `-` when unknown, four decimals from a cent, six below,
/// `0` for a known zero; a trailing `+` when `unpriced` requests (no list price) are
/// not in it, so the figure is a lower bound.
pub fn cost_cell(cost_usd: Option<f64>, unpriced: u64) -> String {
    let Some(c) = cost_usd else {
        return NONE.to_owned();
    };
    let figure = if c >= 0.01 {
        format!("{c:.4}")
    } else if c > 0.0 {
        format!("{c:.6}")
    } else {
        "0".to_owned()
    };
    if unpriced > 0 {
        format!("{figure}+")
    } else {
        figure
    }
}

/// Tokens in / out for a table (`~` when estimated); `-` for a count the store does
/// not have.
pub fn tokens_cell(input: Option<u64>, output: Option<u64>, estimated: bool) -> String {
    let n = |v: Option<u64>| v.map_or_else(|| NONE.to_owned(), |v| v.to_string());
    format!(
        "{}/{}{}",
        n(input),
        n(output),
        if estimated { "~" } else { "" }
    )
}

/// A stored timestamp (`YYYY-MM-DDTHH:MM:SS.sssZ`) shortened to the second.
pub fn short_time(ts: &str) -> String {
    match ts.get(..19) {
        Some(s) => s.replacen('T', " ", 1),
        None => ts.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(ms_f(Some(208.4)), "208 ms");
        assert_eq!(ms_f(None), "-");
        assert_eq!(ms_i(Some(739)), "739 ms");
        assert_eq!(
            short_time("2026-11-29T17:22:37.570Z"),
            "2026-11-29 17:22:37"
        );
        assert_eq!(short_time("short"), "short");
        assert_eq!(cost_cell(None, 3), "-");
        assert_eq!(cost_cell(Some(0.0), 0), "0");
        assert_eq!(cost_cell(Some(0.0123), 2), "0.0123+");
        assert_eq!(cost_cell(Some(0.0015), 0), "0.001500");
        assert_eq!(tokens_cell(Some(12), None, false), "12/-");
        assert_eq!(tokens_cell(Some(12), Some(3), true), "12/3~");
    }

    #[test]
    fn plain_tables_have_no_borders_or_escapes() {
        let s = Style {
            tty: false,
            color: false,
        };
        let mut t = s.table(["A", "LONGER"]);
        t.add_row(vec![s.cell("x", Tone::Bad), s.num(12)]);
        let text = t.trim_fmt();
        assert_eq!(text, "A  LONGER\nx      12");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn coloured_tables_are_styled_even_when_piped() {
        let s = Style {
            tty: false,
            color: true,
        };
        let mut t = s.table(["A"]);
        t.add_row(vec![s.cell("bad", Tone::Bad)]);
        assert!(t.trim_fmt().contains('\u{1b}'));
    }
}
