//! One look for every figure: an embedded font (no system fontconfig needed), sizes, colours, and the PNG + SVG
//! rendering of a figure drawn once against plotters' generic backend.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Context};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::provenance::{self, Provenance};
use crate::pipeline::store::write_atomic;

pub const FONT: &str = "sans-serif";
pub const SIZE: (u32, u32) = (1100, 750);
pub const RED: RGBColor = RGBColor(0xd6, 0x27, 0x28);
pub const BLUE: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// Distinguishable series colours (matplotlib's tab10 order).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Registers DejaVu Sans (from the `dejavu` crate) as the font every figure uses.
pub fn init_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let fonts = [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
            (FontStyle::Oblique, dejavu::sans::oblique()),
            (FontStyle::Italic, dejavu::sans::oblique()),
        ];
        for (style, bytes) in fonts {
            // The bytes are a font shipped inside a crate; failing to parse them is a build defect.
            plotters::style::register_font(FONT, style, bytes).map_err(|_| ()).expect("embedded DejaVu font parses");
        }
    });
}

pub fn title_font() -> TextStyle<'static> {
    (FONT, 26).into_font().style(FontStyle::Bold).into()
}
pub fn label_font() -> TextStyle<'static> {
    (FONT, 20).into()
}
pub fn tick_font() -> TextStyle<'static> {
    (FONT, 16).into()
}

/// A figure drawable on any plotters backend, so one description gives both the PNG and the SVG.
pub trait Figure {
    /// File stem under figures/, e.g. `three_point_loss`.
    fn name(&self) -> String;
    /// One sentence for the report and the file's provenance: what the figure shows.
    fn caption(&self) -> String;
    fn size(&self) -> (u32, u32) {
        SIZE
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>;
}

/// Turns plotters' backend-generic errors into anyhow errors.
pub fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Where [`render`] puts a figure: PNG + SVG files in a directory (`wgf figures`), or SVG text kept in memory
/// (notebooks, through [`super::stage_svgs`]).
pub enum Target<'a> {
    Dir(&'a Path),
    Memory(&'a RefCell<Vec<Svg>>),
}

/// A stage's figures being drawn: where to, the sources written into each file, and what was drawn.
pub struct Output<'a> {
    pub target: Target<'a>,
    /// The stages and keys the figures come from; [`render`] fills in each figure's name and caption.
    pub source: &'a Provenance,
    /// (name, caption) of every figure rendered, in order.
    pub drawn: RefCell<Vec<(String, String)>>,
}

impl<'a> Output<'a> {
    pub fn new(target: Target<'a>, source: &'a Provenance) -> Output<'a> {
        Output { target, source, drawn: RefCell::default() }
    }
}

/// One figure rendered as SVG text; shows itself inline in an evcxr (Rust Jupyter) notebook.
#[derive(Debug, Clone, PartialEq)]
pub struct Svg {
    /// File stem the figure has under figures/, e.g. `three_point_loss`.
    pub name: String,
    pub svg: String,
}

impl Svg {
    /// evcxr calls this when an `Svg` is a cell's value: the SVG is shown inline.
    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT image/svg+xml\n{}\nEVCXR_END_CONTENT", self.svg);
    }
}

/// Renders `fig` as SVG text.
pub fn render_svg(fig: &impl Figure) -> anyhow::Result<Svg> {
    let name = fig.name();
    svg_plot(&name, fig.size(), |root| fig.draw(root).with_context(|| format!("figure {name} (SVG)")))
}

/// Renders `fig` to `out`: `<dir>/<name>.png` and `.svg`, each written atomically and carrying its provenance
/// (the files are returned), or its SVG text appended to the in-memory list (nothing is returned).
pub fn render(fig: &impl Figure, out: &Output) -> anyhow::Result<Vec<PathBuf>> {
    let mut svg = render_svg(fig)?;
    let prov = Provenance { figure: fig.name(), caption: fig.caption(), ..out.source.clone() };
    svg.svg = provenance::svg_with_metadata(&svg.svg, &prov);
    out.drawn.borrow_mut().push((prov.figure.clone(), prov.caption.clone()));
    let dir = match out.target {
        Target::Dir(dir) => dir,
        Target::Memory(list) => {
            list.borrow_mut().push(svg);
            return Ok(Vec::new());
        }
    };
    let (w, h) = fig.size();
    let name = svg.name;
    let svg_path = dir.join(format!("{name}.svg"));
    write_atomic(&svg_path, svg.svg.as_bytes())?;

    let png_path = dir.join(format!("{name}.png"));
    let software = format!("wgf {} (commit {})", prov.wgf_version, prov.commit);
    let texts = [("Software", software.as_str()), (provenance::KEYWORD, &prov.to_ascii_json())];
    let png = provenance::png_with_text(&png_bytes(fig, &name, (w, h))?, &texts)
        .with_context(|| format!("figure {name} (PNG)"))?;
    write_atomic(&png_path, &png)?;
    Ok(vec![png_path, svg_path])
}

/// The figure as PNG bytes, rasterised in memory (plotters' own file output would open the path following links).
fn png_bytes(fig: &impl Figure, name: &str, (w, h): (u32, u32)) -> anyhow::Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut rgb = vec![0u8; 3 * w as usize * h as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        fig.draw(&root).with_context(|| format!("figure {name} (PNG)"))?;
        root.present().map_err(plot_err)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, w, h, image::ColorType::Rgb8)
        .with_context(|| format!("figure {name}: PNG encoding"))?;
    Ok(png)
}

/// A notebook-only plot in the pipeline's look: `draw` gets an SVG drawing area of `size` (already white, the
/// embedded font registered as [`FONT`]).
pub fn svg_plot(
    name: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Svg> {
    init_fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Svg { name: name.into(), svg })
}

/// Axes of the (w, b) parameter plane, padded around `points`.
pub fn plane_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    caption: String,
    points: impl Iterator<Item = (f64, f64)>,
) -> anyhow::Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in points.filter(|p| p.0.is_finite() && p.1.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
    }
    let pad = 0.05 * (x1 - x0).max(y1 - y0).max(1e-3);
    plane_axes(root, &caption, title_font(), (x0 - pad, x1 + pad, y0 - pad, y1 + pad))
}

/// Axes of the (w, b) parameter plane over exactly [w0, w1] × [b0, b1], captioned in `font`.
pub fn plane_axes<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    caption: &str,
    font: TextStyle<'static>,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
) -> anyhow::Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let mut chart = ChartBuilder::on(root)
        .caption(caption, font)
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    let (x_span, y_span) = (x1 - x0, y1 - y0);
    chart
        .configure_mesh()
        .x_desc("w (slope)")
        .y_desc("b (bias)")
        .x_label_formatter(&|&v| plain_tick(v, x_span))
        .y_label_formatter(&|&v| plain_tick(v, y_span))
        .label_style(tick_font())
        .axis_desc_style(label_font())
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// A linear axis label with the decimals its tick spacing needs (about span / 10), never "-0.0":
/// the key point at zero can come out as −1e-17 from the range arithmetic.
pub fn plain_tick(v: f64, span: f64) -> String {
    let decimals = if span > 0.0 && span.is_finite() { (-(span / 10.0).log10().floor()).clamp(0.0, 12.0) } else { 1.0 };
    let text = format!("{v:.prec$}", prec = decimals as usize);
    match text.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => text,
    }
}

/// The legend box every figure uses.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font: TextStyle<'static>,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(font)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
}

/// A lower bound for a log axis that keeps exact zeros visible instead of dropping them.
pub fn log_floor(values: impl Iterator<Item = f64>, floor: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        let v = v.max(floor);
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (floor, 1.0);
    }
    (lo / 2.0, if hi > lo { hi * 2.0 } else { lo * 10.0 })
}

/// A log axis over [lo, hi] labelled at powers of ten (every decade, or every k-th so that at most 10 show; 1, 2, 5
/// times them when fewer than 3 decades fall inside). plotters' own log key points drop every value below
/// f64::EPSILON (it takes them for the axis's zero), which left the lower decades of E4's loss axes (down to 1e-26)
/// unlabelled.
pub fn log_axis(lo: f64, hi: f64) -> plotters::coord::combinators::WithKeyPoints<LogCoord<f64>> {
    let (first, last) = (lo.log10().ceil() as i32, hi.log10().floor() as i32);
    let stride = ((last - first + 1).max(1) as f64 / 10.0).ceil().max(1.0) as usize;
    let mut marks: Vec<f64> = (first..=last).rev().step_by(stride).map(|k| 10f64.powi(k)).collect();
    if marks.len() < 3 {
        let steps = (first - 1..=last).rev().flat_map(|k| [5.0, 2.0, 1.0].map(|m| m * 10f64.powi(k)));
        marks = steps.filter(|v| (lo..=hi).contains(v)).collect();
    }
    LogCoord::from((lo..hi).log_scale()).with_key_points(marks)
}

#[cfg(test)]
mod plain_tick_tests {
    use super::plain_tick;

    #[test]
    fn zero_has_no_sign_and_decimals_follow_the_span() {
        assert_eq!(plain_tick(-1e-17, 1.1), "0.0");
        assert_eq!(plain_tick(-0.2, 1.1), "-0.2");
        assert_eq!(plain_tick(0.05, 0.3), "0.05");
        assert_eq!(plain_tick(-4.0, 30.0), "-4");
        assert_eq!(plain_tick(0.5, f64::NAN), "0.5");
    }
}

#[cfg(test)]
mod log_axis_tests {
    use plotters::coord::ranged1d::{BoldPoints, Ranged};

    #[test]
    fn labels_reach_the_lowest_decades() {
        let axis = super::log_axis(1e-27, 1.0);
        let points = axis.key_points(BoldPoints(20));
        assert!(points.len() <= 10 && points.len() >= 5, "{points:?}");
        assert!(points.iter().any(|&p| p < 1e-20), "no label below 1e-20: {points:?}");
        assert_eq!(points[0], 1.0);
    }

    #[test]
    fn a_range_within_one_decade_still_has_labels() {
        let points = super::log_axis(0.15, 0.7).key_points(BoldPoints(20));
        assert_eq!(points, vec![0.5, 0.2]);
    }
}
