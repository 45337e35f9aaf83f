//! Machine specs a participant may share with its room: CPU, RAM and, where it can be read,
//! the GPU and its memory.
//!
//! CPU and RAM come from `sysinfo`. The GPU comes from the platform's tools (`nvidia-smi`,
//! then `lspci` on Linux; `system_profiler` on macOS; `wmic` on Windows), each run with a
//! short timeout. Missing tools are normal and simply leave the GPU fields empty.

use std::time::Duration;

use gambi_protocol as proto;
use tokio::process::Command;

/// How long one external tool may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(3);

/// Bytes in a GiB.
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Collects the machine's specs. Never fails: whatever cannot be read stays `None`.
///
/// ```no_run
/// # async fn demo() {
/// let specs = gambi_participant::collect_specs().await;
/// println!("{:?} with {:?} GiB of RAM", specs.cpu, specs.ram);
/// # }
/// ```
pub async fn collect_specs() -> proto::MachineSpecs {
    let (cpu, ram) = tokio::task::spawn_blocking(cpu_and_ram)
        .await
        .unwrap_or((None, None));
    let gpu = gpu().await;
    proto::MachineSpecs {
        gpu: gpu.as_ref().map(|gpu| gpu.name.clone()),
        vram: gpu.and_then(|gpu| gpu.vram_gib),
        ram,
        cpu,
    }
}

/// The machine's host name, as the system reports it; a stable default for names that
/// should not change from one run to the next (e.g. a participant id).
///
/// ```
/// if let Some(name) = gambi_participant::specs::host_name() {
///     assert!(!name.trim().is_empty());
/// }
/// ```
pub fn host_name() -> Option<String> {
    sysinfo::System::host_name().filter(|name| !name.trim().is_empty())
}

/// A GPU as read from a platform tool.
#[derive(Debug, Clone, PartialEq)]
struct Gpu {
    name: String,
    vram_gib: Option<f64>,
}

fn cpu_and_ram() -> (Option<String>, Option<f64>) {
    use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};
    let system = System::new_with_specifics(
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing())
            .with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let cpu = system
        .cpus()
        .first()
        .map(|cpu| cpu.brand().trim().to_owned())
        .filter(|brand| !brand.is_empty());
    let total = system.total_memory();
    let ram = (total > 0).then(|| (total as f64 / GIB).round());
    (cpu, ram)
}

async fn gpu() -> Option<Gpu> {
    if cfg!(target_os = "linux") {
        if let Some(out) = run(
            "nvidia-smi",
            &[
                "--query-gpu=name,memory.total",
                "--format=csv,noheader,nounits",
            ],
        )
        .await
            && let Some(gpu) = parse_nvidia_smi(&out)
        {
            return Some(gpu);
        }
        run("lspci", &[]).await.and_then(|out| parse_lspci(&out))
    } else if cfg!(target_os = "macos") {
        run("system_profiler", &["SPDisplaysDataType"])
            .await
            .and_then(|out| parse_system_profiler(&out))
    } else if cfg!(target_os = "windows") {
        run(
            "wmic",
            &[
                "path",
                "win32_VideoController",
                "get",
                "name,adapterram",
                "/format:csv",
            ],
        )
        .await
        .and_then(|out| parse_wmic(&out))
    } else {
        None
    }
}

/// Runs a tool and returns its standard output, or `None` if it is missing, fails or is slow.
async fn run(program: &str, args: &[&str]) -> Option<String> {
    let child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(TOOL_TIMEOUT, child).await {
        Ok(Ok(output)) if output.status.success() => String::from_utf8(output.stdout).ok(),
        Ok(Ok(_)) | Ok(Err(_)) => None,
        Err(_) => {
            tracing::debug!(program, "spec tool timed out");
            None
        }
    }
}

/// Rounds a size in MiB to whole GiB.
fn mib_to_gib(mib: f64) -> f64 {
    (mib / 1024.0).round()
}

/// `NVIDIA GeForce RTX 3090, 24576` (name, MiB): the first line.
fn parse_nvidia_smi(output: &str) -> Option<Gpu> {
    let line = output
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())?;
    let (name, memory) = match line.rsplit_once(',') {
        Some((name, memory)) => (name.trim(), memory.trim().parse::<f64>().ok()),
        None => (line, None),
    };
    (!name.is_empty()).then(|| Gpu {
        name: name.to_owned(),
        vram_gib: memory.map(mib_to_gib),
    })
}

/// The first VGA, 3D or display controller of `lspci`, e.g.
/// `01:00.0 VGA compatible controller: NVIDIA Corporation GA102 (rev a1)`.
fn parse_lspci(output: &str) -> Option<Gpu> {
    const CLASSES: [&str; 3] = [
        "VGA compatible controller",
        "3D controller",
        "Display controller",
    ];
    output.lines().find_map(|line| {
        let (_, rest) = line.split_once(' ')?;
        let (class, device) = rest.split_once(": ")?;
        if !CLASSES.iter().any(|known| class.starts_with(known)) {
            return None;
        }
        let device = match device.rfind(" (rev ") {
            Some(at) => &device[..at],
            None => device,
        }
        .trim();
        (!device.is_empty()).then(|| Gpu {
            name: device.to_owned(),
            vram_gib: None,
        })
    })
}

/// `Chipset Model: Apple M2` (or `Chip Model:`) and `VRAM (Total): 8 GB` / `1536 MB`.
fn parse_system_profiler(output: &str) -> Option<Gpu> {
    let mut name = None;
    let mut vram_gib = None;
    for line in output.lines().map(str::trim) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.is_none() && matches!(key, "Chipset Model" | "Chip Model") && !value.is_empty() {
            name = Some(value.to_owned());
        } else if vram_gib.is_none() && key.starts_with("VRAM") {
            let mut parts = value.split_whitespace();
            let amount = parts.next().and_then(|amount| amount.parse::<f64>().ok());
            vram_gib = match (amount, parts.next()) {
                (Some(gb), Some("GB")) => Some(gb.round()),
                (Some(mb), Some("MB")) => Some(mib_to_gib(mb)),
                _ => None,
            };
        }
    }
    name.map(|name| Gpu { name, vram_gib })
}

/// `Node,AdapterRAM,Name` CSV; RAM in bytes.
fn parse_wmic(output: &str) -> Option<Gpu> {
    let mut lines = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|column| column.eq_ignore_ascii_case(name))
    };
    let (ram_at, name_at) = (column("AdapterRAM"), column("Name")?);
    lines.find_map(|line| {
        let fields: Vec<&str> = line.split(',').collect();
        let name = fields.get(name_at)?.trim();
        let vram_gib = ram_at
            .and_then(|at| fields.get(at))
            .and_then(|bytes| bytes.trim().parse::<f64>().ok())
            .map(|bytes| (bytes / GIB).round());
        (!name.is_empty()).then(|| Gpu {
            name: name.to_owned(),
            vram_gib,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(name: &str, vram_gib: Option<f64>) -> Option<Gpu> {
        Some(Gpu {
            name: name.into(),
            vram_gib,
        })
    }

    #[test]
    fn nvidia_smi() {
        assert_eq!(
            parse_nvidia_smi("NVIDIA GeForce RTX 3090, 24576\nNVIDIA A100, 81920\n"),
            gpu("NVIDIA GeForce RTX 3090", Some(24.0))
        );
        assert_eq!(parse_nvidia_smi("Tesla T4, [N/A]"), gpu("Tesla T4", None));
        assert_eq!(parse_nvidia_smi("\n"), None);
    }

    #[test]
    fn lspci() {
        let output = "00:00.0 Host bridge: Intel Corporation Device 9b33 (rev 05)\n\
                      00:02.0 VGA compatible controller: Intel Corporation UHD Graphics 630 (rev 02)\n\
                      01:00.0 3D controller: NVIDIA Corporation TU117M (rev a1)\n";
        assert_eq!(
            parse_lspci(output),
            gpu("Intel Corporation UHD Graphics 630", None)
        );
        assert_eq!(
            parse_lspci("00:0f.0 Display controller: Red Hat, Inc. Virtio GPU"),
            gpu("Red Hat, Inc. Virtio GPU", None)
        );
        assert_eq!(parse_lspci("00:00.0 Host bridge: Intel"), None);
    }

    #[test]
    fn system_profiler() {
        let output = "Graphics/Displays:\n\n    Apple M2:\n\n      Chipset Model: Apple M2\n\
                      Type: GPU\n      Total Number of Cores: 10\n";
        assert_eq!(parse_system_profiler(output), gpu("Apple M2", None));
        let intel = "      Chipset Model: Intel Iris Plus\n      VRAM (Dynamic, Max): 1536 MB\n";
        assert_eq!(
            parse_system_profiler(intel),
            gpu("Intel Iris Plus", Some(2.0))
        );
        let amd = "      Chipset Model: AMD Radeon Pro 5500M\n      VRAM (Total): 8 GB\n";
        assert_eq!(
            parse_system_profiler(amd),
            gpu("AMD Radeon Pro 5500M", Some(8.0))
        );
        assert_eq!(parse_system_profiler("nothing here"), None);
    }

    #[test]
    fn wmic() {
        let output = "\r\nNode,AdapterRAM,Name\r\nPC,4293918720,NVIDIA GeForce GTX 1650\r\n";
        assert_eq!(
            parse_wmic(output),
            gpu("NVIDIA GeForce GTX 1650", Some(4.0))
        );
        assert_eq!(
            parse_wmic("Node,Name\nPC,Basic Display"),
            gpu("Basic Display", None)
        );
        assert_eq!(parse_wmic(""), None);
    }

    #[tokio::test]
    async fn collecting_never_fails_and_reads_ram() {
        let specs = collect_specs().await;
        assert!(specs.ram.is_some_and(|ram| ram >= 0.0));
    }
}
