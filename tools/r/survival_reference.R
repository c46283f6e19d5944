# Reference numbers for `alnpredictor analyze survival`, computed with R's survival package.
#
#   Rscript tools/r/survival_reference.R [DATA_DIR] [OUT_DIR]
#   (defaults: ../shared/data/survival-breast and tests/fixtures/r; run from the repository root)
#
# Writes survival_rotterdam.json and survival_gbsg.json; tests/test_analysis_survival.py (CI has no R)
# compares our numbers with them to 1e-4. Re-run only when the analysis definitions below change.
#
# (a) Rotterdam: a node-positivity nomogram, glm(nodes > 0 ~ age + meno + size + grade + pgr + er,
#     binomial) fitted on surgery years <= 1987; its Youden cut-off on those years (pROC, threshold
#     half-way between neighbouring predicted probabilities; the highest one if several tie); risk
#     groups (probability >= cut-off = high risk) on years 1988-1993; event = recurrence
#     (time rtime, event recur, days).
# (b) GBSG: groups by hormone therapy (hormon 1 vs 0); time rfstime, event status (days); also the
#     Cox model adjusted for age, meno, size, grade, nodes, pgr, er.
#
# For each: Kaplan-Meier per group (survfit, conf.type = "log", R's default; the whole curve, the
# survival at 1, 3 and 5 years and the median with its CI), the log-rank test (survdiff), Cox
# (coxph, Efron ties, R's default): HR high vs low with Wald CI and p, likelihood-ratio test, and
# Harrell's C (concordance) of the groups and of the continuous score.

suppressPackageStartupMessages({
  library(survival)
  library(pROC)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[[1]] else "../shared/data/survival-breast"
out_dir <- if (length(args) >= 2) args[[2]] else "tests/fixtures/r"
at_times <- c(365, 1095, 1826)  # 1, 3 and 5 years in days

km_group <- function(time, event) {
  fit <- survfit(Surv(time, event) ~ 1, conf.type = "log")
  tab <- summary(fit)$table
  at <- summary(fit, times = at_times, extend = TRUE)
  na_null <- function(x) if (is.na(x)) NULL else unname(x)
  list(
    n = length(time), events = sum(event),
    curve = list(time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event, n_censor = fit$n.censor,
                 survival = fit$surv, ci_low = fit$lower, ci_high = fit$upper),
    at = list(time = at$time, survival = at$surv, ci_low = at$lower, ci_high = at$upper, n_risk = at$n.risk),
    median = na_null(tab[["median"]]), median_ci = list(na_null(tab[["0.95LCL"]]), na_null(tab[["0.95UCL"]]))
  )
}

cox_summary <- function(fit, term) {
  s <- summary(fit)
  ci <- exp(confint(fit))
  list(coef = unname(coef(fit)[[term]]), hr = unname(exp(coef(fit)[[term]])),
       se = unname(sqrt(diag(vcov(fit)))[match(term, names(coef(fit)))]),
       hr_ci = unname(ci[term, ]), wald_z = unname(s$coefficients[term, "z"]),
       wald_p = unname(s$coefficients[term, "Pr(>|z|)"]),
       loglik = unname(fit$loglik), concordance = unname(concordance(fit)$concordance))
}

analyse <- function(time, event, high, score) {
  grp <- factor(ifelse(high, "high", "low"), levels = c("low", "high"))
  fit <- coxph(Surv(time, event) ~ grp)  # ties = "efron" (the default)
  lt <- summary(fit)$logtest
  sd <- survdiff(Surv(time, event) ~ grp)
  list(
    n = length(time), events = sum(event),
    groups = list(high = km_group(time[high], event[high]), low = km_group(time[!high], event[!high])),
    logrank = list(chisq = unname(sd$chisq), df = length(sd$n) - 1,
                   p = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE),
                   observed = list(low = sd$obs[[1]], high = sd$obs[[2]]),
                   expected = list(low = sd$exp[[1]], high = sd$exp[[2]])),
    cox = c(cox_summary(fit, "grphigh"),
            list(lr_chisq = unname(lt[["test"]]), lr_df = unname(lt[["df"]]), lr_p = unname(lt[["pvalue"]]))),
    concordance_groups = unname(concordance(Surv(time, event) ~ as.numeric(high), reverse = TRUE)$concordance),
    concordance_score = unname(concordance(Surv(time, event) ~ score, reverse = TRUE)$concordance)
  )
}

versions <- list(R = R.version.string, survival = as.character(packageVersion("survival")),
                 pROC = as.character(packageVersion("pROC")))

# ---- (a) Rotterdam: node-positivity nomogram, risk groups on the later years -------------------
rot <- read.csv(file.path(data_dir, "rotterdam.csv"), stringsAsFactors = FALSE)
rot$nodepos <- as.integer(rot$nodes > 0)
train <- rot[rot$year <= 1987, ]
valid <- rot[rot$year >= 1988, ]
nomogram <- glm(nodepos ~ age + meno + size + grade + pgr + er, family = binomial, data = train)
roc_train <- roc(train$nodepos, fitted(nomogram), levels = c(0, 1), direction = "<", quiet = TRUE)
best <- coords(roc_train, "best", best.method = "youden", ret = "threshold", transpose = FALSE)
cutoff <- max(best$threshold)
lp <- predict(nomogram, newdata = valid, type = "link")
prob <- predict(nomogram, newdata = valid, type = "response")
high <- prob >= cutoff
rotterdam <- c(
  list(description = paste("Rotterdam; glm(nodes > 0 ~ age + meno + size + grade + pgr + er, binomial) on surgery",
                           "years <= 1987; Youden cut-off there; groups on 1988-1993; time rtime, event recur"),
       versions = versions, at_times = at_times,
       model = list(formula = "nodepos ~ age + meno + size + grade + pgr + er", n_train = nrow(train),
                    coefficients = as.list(coef(nomogram)), cutoff = cutoff,
                    train_auc = as.numeric(auc(roc_train))),
       patients = list(pid = valid$pid, lp = unname(lp), probability = unname(prob))),
  analyse(valid$rtime, valid$recur, high, prob)
)
write_json(rotterdam, file.path(out_dir, "survival_rotterdam.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE, null = "null")

# ---- (b) GBSG: hormone therapy, unadjusted and adjusted ----------------------------------------
gbsg <- read.csv(file.path(data_dir, "gbsg.csv"))
covariates <- c("age", "meno", "size", "grade", "nodes", "pgr", "er")
res <- analyse(gbsg$rfstime, gbsg$status, gbsg$hormon == 1, gbsg$hormon)
gbsg$grp <- factor(ifelse(gbsg$hormon == 1, "high", "low"), levels = c("low", "high"))
adj_formula <- as.formula(paste("Surv(rfstime, status) ~ grp +", paste(covariates, collapse = " + ")))
adj <- coxph(adj_formula, data = gbsg)
base <- coxph(as.formula(paste("Surv(rfstime, status) ~", paste(covariates, collapse = " + "))), data = gbsg)
lr <- anova(base, adj)  # likelihood-ratio test of the group given the covariates
res$cox_adjusted <- c(cox_summary(adj, "grphigh"),
                      list(covariates = covariates, lr_chisq = lr[2, "Chisq"], lr_df = lr[2, "Df"],
                           lr_p = lr[2, "Pr(>|Chi|)"],
                           covariate_hr = as.list(exp(coef(adj))[covariates])))
gbsg_out <- c(list(description = paste("GBSG 2; groups by hormone therapy (hormon 1 = 'high' side of cut-off 0.5);",
                                       "time rfstime, event status; adjusted Cox: age, meno, size, grade, nodes,",
                                       "pgr, er"),
                   versions = versions, at_times = at_times), res)
write_json(gbsg_out, file.path(out_dir, "survival_gbsg.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE,
           null = "null")
cat("cut-off", format(cutoff, digits = 10), "high", sum(high), "of", length(high), "\n")
cat("Rotterdam HR", exp(coef(coxph(Surv(valid$rtime, valid$recur) ~ high))), "\n")
cat("GBSG HR", res$cox$hr, "adjusted", res$cox_adjusted$hr, "\n")
