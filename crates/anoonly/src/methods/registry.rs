//! The method registry: one macro that turns the list of method files in `methods/mod.rs`
//! into [`MethodKind`](super::MethodKind), [`MethodParams`](super::MethodParams) and
//! [`Fitted`](super::Fitted) and every dispatch over them. Whatever a method *is* (its
//! names, its summary, whether it has an AnoOnly variant, its own norm, its layer widths,
//! its knobs, its stages) comes from its [`Method`](super::Method) implementation; this
//! file only routes to it, so a new method is one new file plus one line in the registry
//! list (and its `pub mod` line).

/// `registry! { module::FittedType as Variant, ... }`: generates the enums and their
/// dispatch, in the order listed (the paper's row order: reports list methods in it). The
/// modules are declared beside the macro call, outside it, so that rustfmt sees their files.
macro_rules! registry {
    ($($module:ident :: $fitted:ident as $variant:ident),+ $(,)?) => {

        /// The methods this crate implements, in registry order (the paper's table rows).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum MethodKind {
            $($variant),+
        }

        impl MethodKind {
            /// Every method, in registry order.
            pub const ALL: &'static [MethodKind] = &[$(MethodKind::$variant),+];

            /// The method's name on the command line, in records and in model files.
            pub fn name(self) -> &'static str {
                match self {
                    $(MethodKind::$variant => <$module::$fitted as Method>::NAME),+
                }
            }

            /// The name as its authors write it (see [`Method::DISPLAY_NAME`]).
            pub fn display_name(self) -> &'static str {
                match self {
                    $(MethodKind::$variant => <$module::$fitted as Method>::DISPLAY_NAME),+
                }
            }

            /// One paragraph on the method for users (see [`Method::SUMMARY`]).
            pub fn summary(self) -> &'static str {
                match self {
                    $(MethodKind::$variant => <$module::$fitted as Method>::SUMMARY),+
                }
            }

            /// Whether the method has an AnoOnly variant (the paper's baselines do not).
            pub fn supports_anoonly(self) -> bool {
                match self {
                    $(MethodKind::$variant => <$module::$fitted as Method>::SUPPORTS_ANOONLY),+
                }
            }

            /// Whether the method trains without labeled anomalies (see
            /// [`Method::TRAINS_WITHOUT_ANOMALIES`]).
            pub fn trains_without_anomalies(self) -> bool {
                match self {
                    $(MethodKind::$variant => <$module::$fitted as Method>::TRAINS_WITHOUT_ANOMALIES),+
                }
            }

            /// The method's own normalisation before its last layer (what `--norm` replaces).
            pub fn own_norm(self) -> NormKind {
                match self {
                    $(MethodKind::$variant => <$module::$fitted as Method>::OWN_NORM),+
                }
            }

            /// A rough relative cost of one fit on `n_rows` rows (bench runs the slow cells
            /// first).
            pub fn relative_cost(self, n_rows: usize) -> f64 {
                match self {
                    $(MethodKind::$variant => <$module::$fitted as Method>::relative_cost(n_rows)),+
                }
            }

            /// The stages of the method's fit ([`Method::STAGES`]; empty: one stage, nothing
            /// shared).
            pub fn stages(self) -> &'static [StageSpec] {
                match self {
                    $(MethodKind::$variant => <$module::$fitted as Method>::STAGES),+
                }
            }

            /// The name of the method's module (its file under `src/methods/`).
            pub fn module(self) -> &'static str {
                match self {
                    $(MethodKind::$variant => stringify!($module)),+
                }
            }
        }

        /// A method and its hyperparameters. Serialised as the parameters' fields after
        /// `"method": NAME` (model-file configs, `eval --json`'s `method_params`).
        #[derive(Clone, Debug, PartialEq)]
        pub enum MethodParams {
            $($variant(<$module::$fitted as Method>::Params)),+
        }

        impl MethodParams {
            /// The authors' defaults for `kind`.
            pub fn defaults(kind: MethodKind) -> Self {
                match kind {
                    $(MethodKind::$variant => MethodParams::$variant(Default::default())),+
                }
            }

            pub fn kind(&self) -> MethodKind {
                match self {
                    $(MethodParams::$variant(_) => MethodKind::$variant),+
                }
            }

            /// Checks every hyperparameter's range.
            pub fn validate(&self) -> Result<(), ParamError> {
                match self {
                    $(MethodParams::$variant(p) => <$module::$fitted as Method>::validate(p)),+
                }
            }

            /// The method's typed knobs (epochs, batch size) on these parameters.
            pub fn knobs(&mut self) -> Knobs<'_> {
                match self {
                    $(MethodParams::$variant(p) => <$module::$fitted as Method>::knobs(p)),+
                }
            }

            /// The chain of layer widths these parameters build on `n_features` inputs (see
            /// [`Method::layer_widths`]).
            pub fn layer_widths(&self, n_features: usize) -> Vec<(&'static str, usize)> {
                match self {
                    $(MethodParams::$variant(p) => {
                        <$module::$fitted as Method>::layer_widths(p, n_features)
                    }),+
                }
            }

            /// The parameters' fields as a JSON object, without the `method` tag.
            fn fields_json(&self) -> serde_json::Result<serde_json::Value> {
                match self {
                    $(MethodParams::$variant(p) => serde_json::to_value(p)),+
                }
            }

            /// Parameters of `kind` from a JSON object of fields (absent fields take the
            /// defaults).
            fn from_fields_json(
                kind: MethodKind,
                fields: serde_json::Value,
            ) -> serde_json::Result<Self> {
                Ok(match kind {
                    $(MethodKind::$variant => MethodParams::$variant(serde_json::from_value(fields)?)),+
                })
            }

            /// Fits the method (inputs already checked by [`FitParams::fit_observed`]).
            fn fit_method(
                &self,
                train: &TrainParams,
                x: ArrayView2<f32>,
                y: ArrayView1<u8>,
                ctx: FitContext<'_>,
            ) -> Result<(Fitted, TrainReport), FitError> {
                Ok(match self {
                    $(MethodParams::$variant(p) => {
                        let (f, r) = <$module::$fitted as Method>::fit(p, train, x, y, ctx)?;
                        (Fitted::$variant(Box::new(f)), r)
                    }),+
                })
            }

            /// Rebuilds a fitted state from its tensors.
            fn load_fitted(
                &self,
                train: &TrainParams,
                n_features: usize,
                tensors: &[NamedTensor],
            ) -> Result<Fitted, StateError> {
                Ok(match self {
                    $(MethodParams::$variant(p) => Fitted::$variant(Box::new(
                        <$module::$fitted as Method>::from_state(p, train, n_features, tensors)?,
                    ))),+
                })
            }
        }

        impl Serialize for MethodParams {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                struct Tagged<'a, P> {
                    method: &'static str,
                    #[serde(flatten)]
                    params: &'a P,
                }
                match self {
                    $(MethodParams::$variant(p) => Tagged {
                        method: <$module::$fitted as Method>::NAME,
                        params: p,
                    }
                    .serialize(s)),+
                }
            }
        }

        /// The fitted state of one method.
        #[derive(Clone, Debug)]
        pub enum Fitted {
            $($variant(Box<$module::$fitted>)),+
        }

        impl Fitted {
            fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
                match self {
                    $(Fitted::$variant(f) => f.decision_function(x)),+
                }
            }

            fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
                match self {
                    $(Fitted::$variant(f) => f.representation(x)),+
                }
            }

            fn state(&self, out: &mut Vec<NamedTensor>) {
                match self {
                    $(Fitted::$variant(f) => f.state(out)),+
                }
            }
        }
    };
}
