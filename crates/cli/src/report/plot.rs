//! The report's plots, drawn with plotters into an RGB buffer and saved as PNG:
//! `params_accuracy.png` (parameters and MACs left per step in % of step 0, over top-1 accuracy
//! per step) and `channels.png` (channels per layer in step 0 and in the kept step). Text is
//! drawn with a font compiled into the binary (Ubuntu Light from `epaint_default_fonts`), so no
//! system font library is needed.

use super::{LayerChange, layer_changes, percent_of};
use anyhow::{Context, Result, ensure};
use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use shears_prune::pruner::{PruneRecord, StepRecord};
use std::ops::Range;
use std::sync::OnceLock;

/// Size of `params_accuracy.png`, with or without the accuracy panel.
pub(super) const PARAMS_ACCURACY_SIZE: (u32, u32) = (1000, 800);
/// Height of `channels.png` without the layer names under it.
const CHANNELS_HEIGHT: u32 = 560;
/// The channel axis goes this far over the widest layer, leaving room for the legend.
const HEADROOM: f64 = 1.25;
/// Layer names longer than this are cut to their end (the distinctive part of a module path).
const NAME_CHARS: usize = 40;

const PARAMS: RGBColor = RGBColor(31, 119, 180);
const MACS: RGBColor = RGBColor(255, 127, 14);
pub(super) const ACCURACY: RGBColor = RGBColor(44, 160, 44);
pub(super) const ACCURACY_PRUNED: RGBColor = RGBColor(214, 39, 40);
const KEPT: RGBColor = RGBColor(120, 120, 120);
const BEFORE: RGBColor = RGBColor(190, 190, 190);
const AFTER: RGBColor = PARAMS;

/// The family the embedded font is registered under; plotters' default text family.
const FONT: &str = "sans-serif";
const TITLE_SIZE: u32 = 22;
const TEXT_SIZE: u32 = 16;
const NAME_SIZE: u32 = 14;

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// One line of a line panel, with points `(step, value)`.
struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// Parameters and MACs remaining per step and, when the record has any, top-1 accuracy below.
pub(super) fn params_accuracy(record: &PruneRecord) -> Result<Vec<u8>> {
    let remaining = remaining_series(record);
    let accuracy = accuracy_series(record);
    render_png(PARAMS_ACCURACY_SIZE, |root| {
        let title = "Parameters and MACs left (% of step 0)";
        if accuracy.is_empty() {
            return line_panel(root, record, title, 0.0..105.0, &remaining);
        }
        let (top, bottom) = root.split_vertically(PARAMS_ACCURACY_SIZE.1 / 2);
        line_panel(&top, record, title, 0.0..105.0, &remaining)?;
        let title = "Top-1 accuracy (%)";
        line_panel(&bottom, record, title, accuracy_range(&accuracy), &accuracy)
    })
}

/// Channels per layer: step 0 and the kept step as side-by-side bars, names under the axis.
pub(super) fn channels(record: &PruneRecord) -> Result<Vec<u8>> {
    let layers = layer_changes(record);
    let names: Vec<String> = layers.iter().map(|l| abbreviate(l.name)).collect();
    render_png(channels_size(&names), |root| {
        let slots = layers.len().max(1) as f64;
        let top = layers
            .iter()
            .filter_map(|l| l.before.max(l.after))
            .max()
            .unwrap_or(1) as f64;
        let title = format!(
            "Channels per layer: step 0 and step {} (kept)",
            record.kept_step
        );
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, TITLE_SIZE))
            .margin(15)
            .x_label_area_size(name_area(&names))
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..slots, 0.0..top * HEADROOM)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_max_light_lines(1)
            .x_labels(0)
            .y_label_formatter(&tick)
            .y_desc("Output channels")
            .label_style((FONT, TEXT_SIZE))
            .axis_desc_style((FONT, TEXT_SIZE))
            .draw()?;
        let kept = format!("step {} (kept)", record.kept_step);
        draw_bars(&mut chart, &layers, "step 0", BEFORE, 0.1, |l| l.before)?;
        draw_bars(&mut chart, &layers, &kept, AFTER, 0.5, |l| l.after)?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        draw_layer_names(root, &chart, &names)
    })
}

type BarChart<'a> =
    ChartContext<'a, BitMapBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One bar per layer, 0.4 slots wide, starting `offset` into the layer's slot.
fn draw_bars(
    chart: &mut BarChart,
    layers: &[LayerChange],
    label: &str,
    color: RGBColor,
    offset: f64,
    width: impl Fn(&LayerChange) -> Option<usize>,
) -> Result<()> {
    let bars = layers.iter().enumerate().filter_map(|(i, layer)| {
        let x = i as f64 + offset;
        width(layer).map(|c| Rectangle::new([(x, 0.0), (x + 0.4, c as f64)], color.filled()))
    });
    chart
        .draw_series(bars)?
        .label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled()));
    Ok(())
}

/// The names under the x axis, written upwards and ending just under their bars.
fn draw_layer_names(root: &Area, chart: &BarChart, names: &[String]) -> Result<()> {
    let style = TextStyle::from((FONT, NAME_SIZE).into_font())
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for (i, name) in names.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw_text(name, &style, (x, y + 10))?;
    }
    Ok(())
}

/// `channels.png` is wide enough for about 26 px per layer (at least 1000 px) and high enough
/// for the longest name under the axis.
fn channels_size(names: &[String]) -> (u32, u32) {
    (
        (160 + 26 * names.len() as u32).max(1000),
        CHANNELS_HEIGHT + name_area(names),
    )
}

/// The end of a long layer name, marked as cut.
fn abbreviate(name: &str) -> String {
    let chars = name.chars().count();
    if chars <= NAME_CHARS {
        return name.to_string();
    }
    let tail: String = name.chars().skip(chars + 1 - NAME_CHARS).collect();
    format!("…{tail}")
}

/// Room under the x axis for the longest name written upwards (0.4 em a character is enough
/// for Ubuntu Light).
fn name_area(names: &[String]) -> u32 {
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(0) as u32;
    30 + longest * NAME_SIZE * 2 / 5
}

fn remaining_series(record: &PruneRecord) -> Vec<Series> {
    let base = record.baseline();
    vec![
        series(record, "parameters", PARAMS, |s| {
            Some(percent_of(s.params as f64, base.params as f64))
        }),
        series(record, "MACs", MACS, |s| {
            Some(percent_of(s.macs as f64, base.macs as f64))
        }),
    ]
}

/// The accuracy lines that have any point (none when pruning ran without data).
fn accuracy_series(record: &PruneRecord) -> Vec<Series> {
    let percent = |a: Option<f64>| a.map(|a| 100.0 * a);
    [
        series(record, "after fine-tuning", ACCURACY, |s| {
            percent(s.accuracy)
        }),
        series(
            record,
            "after pruning, before fine-tuning",
            ACCURACY_PRUNED,
            |s| percent(s.accuracy_pruned),
        ),
    ]
    .into_iter()
    .filter(|s| !s.points.is_empty())
    .collect()
}

/// One value per step, skipping the steps where `value` has none.
fn series(
    record: &PruneRecord,
    label: &str,
    color: RGBColor,
    value: impl Fn(&StepRecord) -> Option<f64>,
) -> Series {
    let points = record
        .steps
        .iter()
        .filter_map(|s| Some((s.step as f64, value(s)?)))
        .collect();
    Series {
        label: label.to_string(),
        color,
        points,
    }
}

/// From a round 5 % under the lowest accuracy to one over the highest, within 0–100 and at
/// least 5 wide.
fn accuracy_range(series: &[Series]) -> Range<f64> {
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let low = (((low - 2.0) / 5.0).floor() * 5.0).clamp(0.0, 95.0);
    let high = (((high + 2.0) / 5.0).ceil() * 5.0).clamp(low + 5.0, 100.0);
    low..high
}

/// A panel of lines over the steps, with the kept step marked by a dashed vertical line.
fn line_panel(
    area: &Area,
    record: &PruneRecord,
    title: &str,
    y: Range<f64>,
    lines: &[Series],
) -> Result<()> {
    let last = record
        .steps
        .iter()
        .map(|s| s.step)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, TITLE_SIZE))
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.25..last + 0.25, y.clone())?;
    chart
        .configure_mesh()
        .x_labels((last as usize + 1).min(21))
        .x_max_light_lines(0)
        .y_max_light_lines(1)
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .x_desc("Step")
        .label_style((FONT, TEXT_SIZE))
        .axis_desc_style((FONT, TEXT_SIZE))
        .draw()?;
    for line in lines {
        let color = line.color;
        chart
            .draw_series(
                LineSeries::new(line.points.iter().copied(), color.stroke_width(2)).point_size(4),
            )?
            .label(&line.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    let kept = record.kept_step as f64;
    chart
        .draw_series(DashedLineSeries::new(
            [(kept, y.start), (kept, y.end)],
            8,
            6,
            KEPT.stroke_width(2),
        ))?
        .label(format!("kept (step {})", record.kept_step))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], KEPT.stroke_width(2)));
    draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)
}

/// A line of a [`line_chart`].
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Matplotlib's tab10 colours, then black and lighter tab20 ones, for lines drawn in turn.
const PALETTE: [RGBColor; 16] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
];

/// Lines over a shared x axis, as PNG bytes. With `x_names`, x is the index into them and
/// the names are written under the axis; otherwise x is numeric.
pub fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    y: Range<f64>,
    lines: &[Line],
    x_names: Option<&[String]>,
) -> Result<Vec<u8>> {
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.03).max(0.25);
    let names: Vec<String> = x_names
        .unwrap_or(&[])
        .iter()
        .map(|n| abbreviate(n))
        .collect();
    let width = (160 + 26 * names.len() as u32).max(1000);
    let height = 640
        + if names.is_empty() {
            0
        } else {
            name_area(&names)
        };
    render_png((width, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, TITLE_SIZE))
            .margin(15)
            .x_label_area_size(if names.is_empty() {
                50
            } else {
                name_area(&names)
            })
            .y_label_area_size(70)
            .build_cartesian_2d(lo - pad..hi + pad, y.clone())?;
        let mut mesh = chart.configure_mesh();
        mesh.y_max_light_lines(1)
            .x_max_light_lines(0)
            .y_label_formatter(&tick)
            .x_label_formatter(&tick)
            .y_desc(y_desc)
            .label_style((FONT, TEXT_SIZE))
            .axis_desc_style((FONT, TEXT_SIZE));
        if names.is_empty() {
            mesh.x_desc(x_desc);
        } else {
            mesh.x_labels(0);
        }
        mesh.draw()?;
        for (i, line) in lines.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(
                    LineSeries::new(line.points.iter().copied(), color.stroke_width(2))
                        .point_size(3),
                )?
                .label(&line.label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        let style = TextStyle::from((FONT, NAME_SIZE).into_font())
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in names.iter().enumerate() {
            let (x, yb) = chart.backend_coord(&(i as f64, y.start));
            root.draw_text(name, &style, (x, yb + 10))?;
        }
        Ok(())
    })
}

/// A tick label: whole numbers without decimals, others with one.
fn tick(value: &f64) -> String {
    let whole = (value - value.round()).abs() < 1e-6;
    if whole {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn draw_legend<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Result<()>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, TEXT_SIZE))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Draws on a white canvas of `size` pixels and encodes it as PNG.
fn render_png(size: (u32, u32), draw: impl FnOnce(&Area) -> Result<()>) -> Result<Vec<u8>> {
    register_font()?;
    let mut buffer = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&buffer, size.0, size.1, image::ExtendedColorType::Rgb8)
        .context("cannot encode the plot as PNG")?;
    Ok(png)
}

/// Registers the embedded font with plotters, once per process.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .is_ok()
    });
    ensure!(registered, "the embedded plot font could not be loaded");
    Ok(())
}
