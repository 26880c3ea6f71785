//! Renders an egui drawing offscreen to a PNG of a chosen size, so a chart
//! exported for slides looks as it does in the window: a headless egui
//! context of that size draws it (a few passes, for layouts to settle), its
//! meshes are rasterized on the CPU — premultiplied alpha blended in gamma
//! space, as egui's own renderers do; egui's tessellator already feathers
//! edges, so no multisampling is needed — and the png crate encodes them.
//!
//! Needs no window, GPU or display, so the command line and tests use it
//! too. Must not run on the UI thread: the window calls it from a
//! background thread.

use std::collections::HashMap;

use egui::epaint::textures::TexturesDelta;
use egui::epaint::{ClippedPrimitive, ColorImage, ImageDelta, Mesh, Primitive, TextureId};
use egui::{Color32, Pos2, RawInput, Rect, Ui, ViewportId, ViewportInfo};

/// The size of the picture and how it is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PngOptions {
    pub width: u32,
    pub height: u32,
    /// Pixels per egui point: 2 draws text and lines twice as large as the window does at 1.
    pub pixels_per_point: f32,
    pub dark: bool,
}

impl Default for PngOptions {
    /// 1600 × 900 (16:9, as slides are) at twice the window's scale, light.
    fn default() -> Self {
        Self { width: 1600, height: 900, pixels_per_point: 2.0, dark: false }
    }
}

/// The largest side a picture may have.
pub const MAX_SIDE: u32 = 8192;

/// What `draw` draws on a panel of `options`' size, as PNG bytes.
pub fn render_png(options: &PngOptions, draw: impl FnMut(&mut Ui)) -> Result<Vec<u8>, String> {
    let (width, height) = (options.width, options.height);
    if !(16..=MAX_SIDE).contains(&width) || !(16..=MAX_SIDE).contains(&height) {
        return Err(format!("a picture of {width} × {height} pixels: each side must be 16 to {MAX_SIDE}"));
    }
    let pixels = rasterize(options, draw);
    encode(width, height, &pixels)
}

/// The drawing's pixels, RGBA, row by row.
pub fn rasterize(options: &PngOptions, mut draw: impl FnMut(&mut Ui)) -> Vec<u8> {
    let ctx = egui::Context::default();
    let theme = if options.dark { crate::ui::theme::Theme::Dark } else { crate::ui::theme::Theme::Light };
    ctx.set_visuals(theme.visuals());
    let ppp = options.pixels_per_point.max(0.25);
    let size = egui::vec2(options.width as f32 / ppp, options.height as f32 / ppp);
    let mut textures: HashMap<TextureId, ColorImage> = HashMap::new();
    let mut last = None;
    for _ in 0..3 {
        let mut input = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, size)),
            max_texture_side: Some(MAX_SIDE as usize),
            ..RawInput::default()
        };
        input
            .viewports
            .insert(ViewportId::ROOT, ViewportInfo { native_pixels_per_point: Some(ppp), ..ViewportInfo::default() });
        let mut output = ctx.run_ui(input, |ui| {
            egui::CentralPanel::default().show(ui, |ui| draw(ui));
        });
        apply(&mut textures, &mut output.textures_delta);
        last = Some(output);
    }
    let mut canvas =
        Canvas::new(options.width as usize, options.height as usize, ctx.global_style().visuals.panel_fill);
    if let Some(output) = last {
        for ClippedPrimitive { clip_rect, primitive } in ctx.tessellate(output.shapes, output.pixels_per_point) {
            if let Primitive::Mesh(mesh) = primitive {
                let clip = Rect::from_min_max(
                    (clip_rect.min.to_vec2() * output.pixels_per_point).to_pos2(),
                    (clip_rect.max.to_vec2() * output.pixels_per_point).to_pos2(),
                );
                canvas.draw(&mesh, clip, textures.get(&mesh.texture_id), output.pixels_per_point);
            }
        }
    }
    canvas.into_rgba()
}

/// Keeps `textures` as egui's deltas say (whole images and patches; freed ones go).
fn apply(textures: &mut HashMap<TextureId, ColorImage>, delta: &mut TexturesDelta) {
    for (id, ImageDelta { image, pos, .. }) in
        delta.set.iter().flat_map(|(id, deltas)| deltas.iter().map(move |d| (id, d)))
    {
        let egui::ImageData::Color(patch) = image;
        match (pos, textures.get_mut(id)) {
            (Some([x0, y0]), Some(texture)) => {
                for y in 0..patch.size[1] {
                    for x in 0..patch.size[0] {
                        let (tx, ty) = (x0 + x, y0 + y);
                        if tx < texture.size[0] && ty < texture.size[1] {
                            texture.pixels[ty * texture.size[0] + tx] = patch.pixels[y * patch.size[0] + x];
                        }
                    }
                }
            }
            _ => {
                textures.insert(*id, patch.as_ref().clone());
            }
        }
    }
    for id in &delta.free {
        textures.remove(id);
    }
    delta.clear();
}

/// Premultiplied RGBA in 0…1, gamma space.
type Rgba = [f32; 4];

struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<Rgba>,
}

impl Canvas {
    fn new(width: usize, height: usize, background: Color32) -> Self {
        Self { width, height, pixels: vec![rgba(background); width * height] }
    }

    /// Blends `mesh` (in points; `ppp` pixels each) inside `clip` (in pixels).
    fn draw(&mut self, mesh: &Mesh, clip: Rect, texture: Option<&ColorImage>, ppp: f32) {
        let clip_x = (clip.min.x.max(0.0) as usize, (clip.max.x.ceil().max(0.0) as usize).min(self.width));
        let clip_y = (clip.min.y.max(0.0) as usize, (clip.max.y.ceil().max(0.0) as usize).min(self.height));
        for triangle in mesh.indices.chunks_exact(3) {
            let corners = [triangle[0], triangle[1], triangle[2]].map(|index| &mesh.vertices[index as usize]);
            let [first, second, third] = corners.map(|v| (v.pos.x * ppp, v.pos.y * ppp));
            let area = edge(first, second, third);
            if area.abs() < 1e-9 {
                continue;
            }
            let (min_x, max_x) = (first.0.min(second.0).min(third.0), first.0.max(second.0).max(third.0));
            let (min_y, max_y) = (first.1.min(second.1).min(third.1), first.1.max(second.1).max(third.1));
            let x_range = (min_x.floor().max(clip_x.0 as f32) as usize)..(max_x.ceil().max(0.0) as usize).min(clip_x.1);
            let y_range = (min_y.floor().max(clip_y.0 as f32) as usize)..(max_y.ceil().max(0.0) as usize).min(clip_y.1);
            let colours = corners.map(|v| rgba(v.color));
            for y in y_range {
                for x in x_range.clone() {
                    let centre = (x as f32 + 0.5, y as f32 + 0.5);
                    let (wa, wb) = (edge(second, third, centre) / area, edge(third, first, centre) / area);
                    let wc = 1.0 - wa - wb;
                    if wa < 0.0 || wb < 0.0 || wc < 0.0 {
                        continue;
                    }
                    let mut source = [0.0; 4];
                    for (channel, value) in source.iter_mut().enumerate() {
                        *value = colours[0][channel] * wa + colours[1][channel] * wb + colours[2][channel] * wc;
                    }
                    if let Some(texture) = texture {
                        let u = corners[0].uv.x * wa + corners[1].uv.x * wb + corners[2].uv.x * wc;
                        let v = corners[0].uv.y * wa + corners[1].uv.y * wb + corners[2].uv.y * wc;
                        let texel = sample(texture, u, v);
                        for (value, texel) in source.iter_mut().zip(texel) {
                            *value *= texel;
                        }
                    }
                    let target = &mut self.pixels[y * self.width + x];
                    let keep = 1.0 - source[3];
                    for (value, source) in target.iter_mut().zip(source) {
                        *value = source + *value * keep;
                    }
                }
            }
        }
    }

    /// Straight RGBA bytes (the background is opaque, so every pixel is).
    fn into_rgba(self) -> Vec<u8> {
        let byte = |value: f32| (value.clamp(0.0, 1.0) * 255.0).round() as u8;
        self.pixels
            .into_iter()
            .flat_map(|[r, g, b, a]| {
                let unpremultiply = |value: f32| if a > 0.0 { value / a } else { 0.0 };
                [byte(unpremultiply(r)), byte(unpremultiply(g)), byte(unpremultiply(b)), byte(a)]
            })
            .collect()
    }
}

/// Twice the signed area of the triangle (a, b, p).
fn edge(a: (f32, f32), b: (f32, f32), p: (f32, f32)) -> f32 {
    (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0)
}

fn rgba(colour: Color32) -> Rgba {
    colour.to_array().map(|channel| f32::from(channel) / 255.0)
}

/// The texel nearest to (u, v) (egui rasterizes its glyphs at the output's scale, so texels meet pixels one to one).
fn sample(texture: &ColorImage, u: f32, v: f32) -> Rgba {
    let [width, height] = texture.size;
    if width == 0 || height == 0 {
        return [1.0; 4];
    }
    let x = ((u * width as f32) as usize).min(width - 1);
    let y = ((v * height as f32) as usize).min(height - 1);
    rgba(texture.pixels[y * width + x])
}

/// `pixels` (RGBA rows) as PNG bytes.
fn encode(width: u32, height: u32, pixels: &[u8]) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|err| format!("writing the PNG: {err}"))?;
    writer.write_image_data(pixels).map_err(|err| format!("writing the PNG: {err}"))?;
    writer.finish().map_err(|err| format!("writing the PNG: {err}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(pixels: &[u8], width: u32, x: u32, y: u32) -> [u8; 4] {
        let at = ((y * width + x) * 4) as usize;
        [pixels[at], pixels[at + 1], pixels[at + 2], pixels[at + 3]]
    }

    #[test]
    fn a_painted_rectangle_lands_where_it_was_painted_at_the_chosen_scale() {
        let options = PngOptions { width: 200, height: 100, pixels_per_point: 2.0, dark: false };
        let red = Color32::from_rgb(220, 20, 20);
        let pixels = rasterize(&options, |ui| {
            // In points: (10, 10)–(40, 30), so pixels (20, 20)–(80, 60).
            ui.painter().rect_filled(Rect::from_min_max(Pos2::new(10.0, 10.0), Pos2::new(40.0, 30.0)), 0.0, red);
            ui.label("tidepool");
        });
        assert_eq!(pixels.len(), 200 * 100 * 4);
        assert_eq!(pixel(&pixels, 200, 50, 40), [220, 20, 20, 255], "inside the rectangle");
        let background = pixel(&pixels, 200, 190, 90);
        assert_ne!(background, [220, 20, 20, 255], "outside it");
        assert_eq!(pixel(&pixels, 200, 10, 40), background, "left of it");
        assert_eq!(pixel(&pixels, 200, 90, 40), background, "right of it");
        let png = render_png(&options, |ui| {
            ui.label("tidepool");
        })
        .unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let error = render_png(&PngOptions { width: 9_000, ..options }, |_| {}).unwrap_err();
        assert!(error.contains("9000 × 100") && error.contains("16 to 8192"), "{error}");
    }
}
