//! The SVG plots: perplexity per method, and a real layer's input activations per channel
//! and per token before and after rotation and smoothing.

use plotters::prelude::*;

use crate::Result;

fn err(e: impl std::fmt::Display) -> Box<dyn std::error::Error> {
    format!("plot: {e}").into()
}

/// Bars of perplexity per (method, setting) at group 128, with a whisker over the range of
/// the jittered runs where there were any (`--jitter`); a line at FP32.
pub fn perplexity(path: &str, rows: &[crate::Row]) -> Result<()> {
    let main: Vec<_> = rows
        .iter()
        .filter(|r| r.group.is_none_or(|g| g == 128))
        .collect();
    let fp = main.iter().find(|r| r.method == "fp32").map(|r| r.ppl);
    let ymax = main
        .iter()
        .map(|r| r.spread.map_or(r.ppl, |(_, hi)| hi))
        .fold(1.0, f64::max)
        .min(fp.map_or(f64::MAX, |f| f * 8.0))
        * 1.15;
    let root = SVGBackend::new(path, (1000, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "SmolLM2-135M A4W4 perplexity on Brown (cp01–cp29), lower is better",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(120)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..main.len() as f64, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_desc(
            "blue: RTN weights, red: GPTQ (lighter: clipped scales); whiskers: range over \
             the jittered runs; line: FP32",
        )
        .y_desc("perplexity")
        .draw()
        .map_err(err)?;
    // Bars and whiskers past the axis end just below it.
    let clip = |v: f64| v.min(ymax * 0.97);
    for (i, r) in main.iter().enumerate() {
        let x = i as f64;
        // GPTQ red, RTN blue; clipped weight scales lighter.
        let base = if r.setting.starts_with("gptq") {
            RED
        } else {
            BLUE
        };
        let color = base.mix(if r.setting.ends_with("-clip") {
            0.35
        } else {
            0.7
        });
        let top = clip(r.ppl);
        chart
            .draw_series([Rectangle::new(
                [(x + 0.15, 0.0), (x + 0.85, top)],
                color.filled(),
            )])
            .map_err(err)?;
        let mut label_at = top;
        if let Some((lo, hi)) = r.spread {
            let (lo, hi) = (clip(lo), clip(hi));
            let whisker = [
                vec![(x + 0.5, lo), (x + 0.5, hi)],
                vec![(x + 0.4, lo), (x + 0.6, lo)],
                vec![(x + 0.4, hi), (x + 0.6, hi)],
            ];
            chart
                .draw_series(
                    whisker
                        .into_iter()
                        .map(|l| PathElement::new(l, BLACK.stroke_width(1))),
                )
                .map_err(err)?;
            label_at = label_at.max(hi);
        }
        // The figure above the bar (or its whisker), the method and weights below the axis.
        let value = format!("{:.1}", r.ppl);
        chart
            .draw_series([Text::new(
                value,
                (x + 0.12, label_at + ymax * 0.02),
                ("sans-serif", 11),
            )])
            .map_err(err)?;
        let name = match r.setting.as_str() {
            "fp32" => r.method.clone(),
            w => format!("{} {w}", r.method),
        };
        let (px, py) = chart.backend_coord(&(x + 0.4, 0.0));
        let below = ("sans-serif", 12)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK);
        root.draw(&Text::new(name, (px, py + 6), below))
            .map_err(err)?;
    }
    if let Some(f) = fp {
        chart
            .draw_series(LineSeries::new(
                [(0.0, f), (main.len() as f64, f)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Max |x| per channel (original, rotated, rotated + smoothed in reordered positions) and per
/// token (original, rotated) of `x` ([rows, k]), the input of block `layer`'s down projection.
pub fn activations(path: &str, x: &[f32], k: usize, layer: usize) -> Result<()> {
    let rotated = rrs::hadamard::reference(x, k)?;
    let chan = |m: &[f32]| rrs::channel_max::absmax_reference(m, k);
    let (orig_c, rot_c) = (chan(x), chan(&rotated));
    let (_, perm, scales) = rrs::channel_max::reference(&rotated, k, 128, true, None)?;
    let smooth_c: Vec<f32> = perm
        .iter()
        .enumerate()
        .map(|(q, &j)| rot_c[j as usize] / scales[q / 128])
        .collect();
    let tok = |m: &[f32]| -> Vec<f32> {
        m.chunks(k)
            .map(|r| r.iter().fold(0f32, |a, v| a.max(v.abs())))
            .collect()
    };
    let (orig_t, rot_t) = (tok(x), tok(&rotated));
    let root = SVGBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(400);
    let series = |area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
                  title: &str,
                  xlabel: &str,
                  data: &[(&str, &Vec<f32>, RGBColor)]|
     -> Result<()> {
        let n = data[0].1.len();
        let all = data.iter().flat_map(|d| d.1.iter().copied());
        let hi = all.clone().fold(1e-3f32, f32::max) * 2.0;
        let lo = all.fold(f32::MAX, f32::min).max(1e-4) * 0.5;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 17))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0..n, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(xlabel)
            .y_desc("max |x|")
            .draw()
            .map_err(err)?;
        for &(name, v, color) in data {
            chart
                .draw_series(LineSeries::new(
                    v.iter().enumerate().map(|(i, &a)| (i, a.max(lo))),
                    color,
                ))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    };
    series(
        &top,
        &format!(
            "SmolLM2 block {layer} down-projection input: max |x| per channel over {} tokens",
            x.len() / k
        ),
        "channel",
        &[
            ("original", &orig_c, RGBColor(210, 60, 60)),
            ("rotated", &rot_c, RGBColor(40, 90, 200)),
            (
                "rotated + smoothed (group 128, reordered)",
                &smooth_c,
                RGBColor(30, 150, 80),
            ),
        ],
    )?;
    series(
        &bottom,
        "… and per token (spikes: single tokens far above the rest)",
        "token",
        &[
            ("original", &orig_t, RGBColor(210, 60, 60)),
            ("rotated", &rot_t, RGBColor(40, 90, 200)),
        ],
    )?;
    root.present().map_err(err)?;
    Ok(())
}
