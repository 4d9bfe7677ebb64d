//! `anoonly demo`: the library's demo on built-in synthetic data.

use anyhow::Result;
use clap::Args;

use anoonly::experiment;

#[derive(Args)]
pub(crate) struct DemoArgs {
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
}

pub(crate) fn run(a: DemoArgs) -> Result<()> {
    print!("{}", experiment::demo(&a.seeds, a.data_seed)?);
    Ok(())
}
