//! A PNG bar chart of the ratios: for each row, Tessera's advantage over Glance and its share
//! of the machine's ceiling, both oriented so that more is better.

use crate::report::Row;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;

/// Compiled in, so the chart renders the same on a machine without fonts.
const FONT: &[u8] = include_bytes!("font/DejaVuSansMono.ttf");
const FAMILY: &str = "bench-mono";

const WIDTH: u32 = 1100;
const ROW_H: u32 = 34;
const LABEL_W: i32 = 430;
const BAR_W: i32 = 560;

/// The bars of one row: (vs Glance, share of ceiling), each >1 meaning better.
type Bars = (Option<f64>, Option<f64>);

/// The bars of `r`.
fn advantages(r: &Row) -> Bars {
    let orient = |x: f64| if r.higher_is_better { x } else { 1.0 / x };
    (r.vs_glance().map(orient), r.vs_ceiling().map(orient))
}

/// Draws the chart of every row with at least one ratio into `path`.
pub fn draw(rows: &[Row], path: &Path) -> anyhow::Result<()> {
    plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
        .map_err(|_| anyhow::anyhow!("the compiled-in font does not load"))?;
    let rows: Vec<(&Row, Bars)> = rows
        .iter()
        .map(|r| (r, advantages(r)))
        .filter(|(_, (g, c))| g.is_some() || c.is_some())
        .collect();
    let height = 90 + ROW_H * rows.len() as u32;
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let text = |size: f64| (FAMILY, size).into_font().color(&BLACK);
    root.draw(&Text::new(
        "Tessera: x Glance (blue) and x machine ceiling (orange); >1 is better, log scale",
        (10, 10),
        text(16.0),
    ))?;
    // Log scale from 1/100 to 100: ratios span orders of magnitude.
    let span = 4.0f64;
    let x_of = |v: f64| {
        let l = (v.clamp(1e-2, 1e2).log10() + 2.0) / span;
        LABEL_W + (l * f64::from(BAR_W)) as i32
    };
    let top = 50;
    for tick in [0.01, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0] {
        let x = x_of(tick);
        let color = if tick == 1.0 {
            BLACK
        } else {
            RGBColor(200, 200, 200)
        };
        root.draw(&PathElement::new(
            vec![(x, top - 5), (x, height as i32 - 10)],
            color,
        ))?;
        root.draw(&Text::new(format!("{tick}"), (x - 8, top - 22), text(12.0)))?;
    }
    for (i, (row, (glance, ceiling))) in rows.iter().enumerate() {
        let y = top + (i as i32) * ROW_H as i32;
        root.draw(&Text::new(row.workload.clone(), (10, y + 8), text(12.0)))?;
        let origin = x_of(1.0);
        for (k, value, color) in [(0, glance, BLUE), (1, ceiling, RGBColor(230, 140, 20))] {
            if let Some(v) = value {
                let x = x_of(*v);
                let y0 = y + 4 + k * 13;
                root.draw(&Rectangle::new(
                    [(origin.min(x), y0), (origin.max(x), y0 + 11)],
                    color.filled(),
                ))?;
                root.draw(&Text::new(
                    format!("{v:.2}"),
                    (LABEL_W + BAR_W + 10 + k * 70, y + 8),
                    text(12.0),
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Samples;

    #[test]
    fn draws_a_png() {
        let mut r = Row::new("upload", "MB/s", true);
        r.tessera = Samples(vec![300.0]);
        r.glance = Samples(vec![100.0]);
        r.ceiling = Samples(vec![600.0]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        draw(&[r], &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
