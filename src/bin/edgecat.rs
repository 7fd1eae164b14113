//! Native CLI over the same core the worker runs.
//!
//!   edgecat detect FILE...
//!   edgecat hipsterize IN -o OUT [--glasses PNG] [--style NAME]
//!   edgecat bench FILE [--runs N] [--png]
//!   edgecat convert MODEL.onnx -o MODEL.nnef.tar   (feature `onnx`)

use edgecat::codec::OutputFormat;
use edgecat::pipeline::Upload;
use edgecat::pipeline;
use std::process::ExitCode;

const USAGE: &str = "usage:\n  edgecat detect FILE...\n  edgecat hipsterize IN -o OUT [--glasses PNG] [--style NAME]\n  edgecat bench FILE [--runs N] [--png]\n  edgecat convert MODEL.onnx -o MODEL.nnef.tar";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("detect") if args.len() > 1 => detect(&args[1..]),
        Some("hipsterize") => hipsterize(&args[1..]),
        Some("bench") => bench(&args[1..]),
        Some("convert") => convert(&args[1..]),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("edgecat: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

/// One JSON object per file; keeps going after a bad file, fails at the end.
fn detect(files: &[String]) -> Result<(), String> {
    let mut failed = 0;
    for file in files {
        match read(file).and_then(|bytes| pipeline::detect(&bytes).map_err(|e| format!("{file}: {e}"))) {
            Ok(detection) => {
                let mut value = serde_json::to_value(&detection).expect("serializable");
                value["file"] = file.clone().into();
                println!("{value}");
            }
            Err(msg) => {
                eprintln!("edgecat: {msg}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} files failed", files.len()));
    }
    Ok(())
}

fn hipsterize(args: &[String]) -> Result<(), String> {
    let (mut input, mut output, mut glasses, mut style) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "-o" | "--output" => output = Some(value()?),
            "--glasses" => glasses = Some(value()?),
            "--style" => style = Some(value()?),
            a if !a.starts_with('-') && input.is_none() => input = Some(a.to_string()),
            a => return Err(format!("unexpected argument {a}\n{USAGE}")),
        }
    }
    let (input, output) = match (input, output) {
        (Some(i), Some(o)) => (i, o),
        _ => return Err(USAGE.to_string()),
    };
    let upload = Upload { photo: read(&input)?, overlay: glasses.as_deref().map(read).transpose()?, style };
    let format = if output.to_ascii_lowercase().ends_with(".png") { OutputFormat::Png } else { OutputFormat::Jpeg };
    let result = pipeline::hipsterize(&upload, format).map_err(|e| format!("{input}: {e}"))?;
    std::fs::write(&output, &result.bytes).map_err(|e| format!("{output}: {e}"))?;
    eprintln!("{input}: {} cat(s) → {output} ({})", result.cats, result.timings.server_timing());
    Ok(())
}

/// Hipsterizes one photo `runs` times in this process and prints one JSON
/// object: the first (cold) run, per-stage medians of the warm runs, and the
/// peak resident memory. benches/run.mjs reads it.
fn bench(args: &[String]) -> Result<(), String> {
    let (mut file, mut runs, mut format) = (None, 30usize, OutputFormat::Jpeg);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--runs" => {
                runs = it.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0).ok_or("--runs needs a number > 0")?
            }
            "--png" => format = OutputFormat::Png,
            a if !a.starts_with('-') && file.is_none() => file = Some(a.to_string()),
            a => return Err(format!("unexpected argument {a}\n{USAGE}")),
        }
    }
    let file = file.ok_or(USAGE)?;
    let upload = Upload { photo: read(&file)?, overlay: None, style: None };
    let run = || pipeline::hipsterize(&upload, format).map_err(|e| format!("{file}: {e}"));
    let first = run()?;
    let warm: Vec<pipeline::Timings> = (0..runs).map(|_| run().map(|r| r.timings)).collect::<Result<_, _>>()?;
    let median = |stage: fn(&pipeline::Timings) -> f64| {
        let mut v: Vec<f64> = warm.iter().map(stage).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let report = serde_json::json!({
        "file": file,
        "runs": runs,
        "cats": first.cats,
        "output_bytes": first.bytes.len(),
        "first": first.timings,
        "median_ms": {
            "decode": median(|t| t.decode),
            "detect": median(|t| t.detect),
            "landmarks": median(|t| t.landmarks),
            "overlay": median(|t| t.overlay),
            "encode": median(|t| t.encode),
            "total": median(|t| t.total),
        },
        "peak_rss_bytes": peak_rss_bytes(),
    });
    println!("{report}");
    Ok(())
}

/// ONNX → NNEF tar (typed, decluttered, int8 weights kept int8), as the
/// worker embeds it: `make nnef` runs this for models/*.int8.onnx.
#[cfg(feature = "onnx")]
fn convert(args: &[String]) -> Result<(), String> {
    let (mut input, mut output) = (None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-o" | "--output" => output = Some(it.next().cloned().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?),
            a if !a.starts_with('-') && input.is_none() => input = Some(a.to_string()),
            a => return Err(format!("unexpected argument {a}\n{USAGE}")),
        }
    }
    let (Some(input), Some(output)) = (input, output) else { return Err(USAGE.to_string()) };
    let onnx = read(&input)?;
    let (tar, report) =
        edgecat::convert::onnx_to_nnef_tar_with_report(&onnx).map_err(|e| format!("{input}: {e:#}"))?;
    std::fs::write(&output, &tar).map_err(|e| format!("{output}: {e}"))?;
    eprintln!(
        "{input} ({} bytes) → {output} ({} bytes): {} weight tensors int8 ({} params), {} tensors f32 ({} params, scales included)",
        onnx.len(),
        tar.len(),
        report.int8_tensors.len(),
        report.int8_params,
        report.f32_tensors.len(),
        report.f32_params,
    );
    Ok(())
}

#[cfg(not(feature = "onnx"))]
fn convert(_: &[String]) -> Result<(), String> {
    Err("convert needs the ONNX front end: build with the `onnx` feature (the default)".into())
}

/// The process's peak resident set (Linux's VmHWM); None elsewhere.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
