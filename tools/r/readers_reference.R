# Reference numbers for `alnpredictor validate --reader ... --subgroup ...` from R (pROC 1.18, Hmisc,
# metafor), on tests/fixtures/r/readers_evc1.csv (EVC1 + simulated readers and size subgroups, built by
# tools/r/make_readers_fixture.py). tests/test_validate_readers.py and tests/test_validate_subgroups.py
# compare the tool's JSON with these at 1e-6; CI has no R, so the output is committed.
#
# Run from the repository root:
#   Rscript tools/r/readers_reference.R [FIXTURE.csv] [published_signature.csv] [OUT_DIR]
# (defaults: tests/fixtures/r/readers_evc1.csv, ../shared/data/us-dlr-evc1/published_signature.csv,
#  tests/fixtures/r) -> OUT_DIR/readers_evc1.json and OUT_DIR/readers_subgroups.json
suppressPackageStartupMessages({
  library(pROC)
  library(Hmisc)
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
fixture <- if (length(args) >= 1) args[1] else "tests/fixtures/r/readers_evc1.csv"
signature <- if (length(args) >= 2) args[2] else "../shared/data/us-dlr-evc1/published_signature.csv"
out_dir <- if (length(args) >= 3) args[3] else "tests/fixtures/r"

d <- read.csv(fixture, stringsAsFactors = FALSE)
sig <- read.csv(signature, stringsAsFactors = FALSE)
y <- d$ALN_status
lp <- as.vector(as.matrix(d[, sig$feature]) %*% sig$coefficient)  # no intercept in the published table
prob <- plogis(lp)

# never re-oriented (the tool never flips a score): controls 0, cases 1, higher = positive
roc_of <- function(score, yy = y) roc(yy, score, levels = c(0, 1), direction = "<", quiet = TRUE)
auc_block <- function(r) {
  ci <- ci.auc(r, method = "delong")
  list(auc = as.numeric(auc(r)), var = var(r, method = "delong"), ci = c(ci[1], ci[3]))
}
prop_block <- function(k, n) {
  b <- binom.test(k, n)
  list(k = k, n = n, value = k / n, ci = as.numeric(b$conf.int))
}
metrics_at <- function(score, cut) {
  call <- score >= cut
  list(sensitivity = prop_block(sum(call & y == 1), sum(y == 1)),
       specificity = prop_block(sum(!call & y == 0), sum(y == 0)))
}
mcnemar_exact <- function(b, c) if (b + c == 0) 1 else binom.test(b, b + c, 0.5)$p.value

roc_model <- roc_of(lp)
# the model's cut-off: Youden on this cohort, pROC's midpoint between neighbouring values
youden <- coords(roc_of(prob), "best", best.method = "youden", ret = "threshold", transpose = TRUE)
model_cut <- max(youden)  # ties: the higher threshold, as the tool
model_call <- prob >= model_cut

reader_block <- function(column, score, threshold) {
  r <- roc_of(score)
  if (is.null(threshold)) {  # ordinal without a stated threshold: Youden level on this cohort
    best <- max(coords(r, "best", best.method = "youden", ret = "threshold", transpose = TRUE))
    threshold <- min(sort(unique(score))[sort(unique(score)) >= best])
  }
  call <- score >= threshold
  test <- roc.test(roc_model, r, paired = TRUE, method = "delong")
  rates <- ave(y, score, FUN = mean)  # the reader's "probability": event rate per reading level
  nri <- improveProb(x1 = as.numeric(call), x2 = as.numeric(model_call), y = y)
  idi <- improveProb(x1 = rates, x2 = prob, y = y)
  ev <- y == 1
  list(
    column = column, threshold = threshold,
    reader_auc = auc_block(r),
    delong_paired = list(z = unname(test$statistic), p_value = test$p.value,
                         auc_model = unname(test$estimate[1]), auc_reader = unname(test$estimate[2]),
                         ci = as.numeric(test$conf.int)),
    reader = metrics_at(score, threshold),
    model = metrics_at(prob, model_cut),
    mcnemar_sensitivity_p = mcnemar_exact(sum(model_call & !call & ev), sum(!model_call & call & ev)),
    mcnemar_specificity_p = mcnemar_exact(sum(!model_call & call & !ev), sum(model_call & !call & !ev)),
    nri = list(nri = nri$nri, se = nri$se.nri, z = nri$z.nri, events = nri$nri.ev, nonevents = nri$nri.ne),
    idi = list(idi = idi$idi, se = idi$se.idi, z = idi$z.idi)
  )
}

reader_b <- as.numeric(d$reader_b == "positive")
readers <- list(
  model_auc = auc_block(roc_model),
  model_cutoff = model_cut,
  reader_a_stated = reader_block("reader_a", d$reader_a, 4),
  reader_a_youden = reader_block("reader_a", d$reader_a, NULL),
  reader_b = reader_block("reader_b", reader_b, 1)
)

# subgroups: two groups (unpaired DeLong, roc.test: D referred to t with Welch-Satterthwaite df) and three (fixed-effect Cochran's Q, metafor)
group_rocs <- function(column) {
  lv <- sort(unique(d[[column]]))  # the tool sorts group values as text
  setNames(lapply(lv, function(g) roc_of(lp[d[[column]] == g], y[d[[column]] == g])), lv)
}
two <- group_rocs("size_group")
t2 <- roc.test(two[[1]], two[[2]], paired = FALSE, method = "delong")
three <- group_rocs("size_tertile")
blocks3 <- lapply(three, auc_block)
fe <- rma(yi = sapply(blocks3, `[[`, "auc"), vi = sapply(blocks3, `[[`, "var"), method = "FE")
subgroups <- list(
  size_group = list(groups = lapply(two, auc_block), order = names(two),
                    d = unname(t2$statistic), df = unname(t2$parameter), p_value = t2$p.value),
  size_tertile = list(groups = blocks3, order = names(three), q = fe$QE, df = length(three) - 1,
                      p_value = fe$QEp, i2 = fe$I2 / 100, pooled_auc = as.numeric(fe$beta), pooled_se = fe$se)
)

meta <- list(R = R.version.string, pROC = as.character(packageVersion("pROC")),
             Hmisc = as.character(packageVersion("Hmisc")), metafor = as.character(packageVersion("metafor")),
             fixture = basename(fixture))
write_json(c(list(meta = meta), readers), file.path(out_dir, "readers_evc1.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE)
write_json(c(list(meta = meta), subgroups), file.path(out_dir, "readers_subgroups.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE)
cat("wrote", file.path(out_dir, "readers_evc1.json"), "and readers_subgroups.json\n")
