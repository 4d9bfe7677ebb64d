//! The model-file reader on arbitrary bytes; a model that loads must also score a row.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = anoonly::model_file::from_bytes(data, std::path::Path::new("fuzz.model")) {
        if model.n_features <= 4096 {
            let x = ndarray::Array2::<f32>::zeros((2, model.n_features));
            let _ = model.decision_function(x.view());
        }
    }
});
