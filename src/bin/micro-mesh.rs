//! `micro-mesh`: call any service in the mesh by name, with no registry (`micro-mesh --help`).

fn main() -> std::process::ExitCode {
    micro_mesh::cli_main()
}
