#!/bin/sh
# transfer_compare.sh: fine-tuning the shipped FER2013 emotion model on the
# real hand-sign photos against the same network trained from scratch,
# with all the training sessions and with 10% of them (docs/RESULTS.md,
# "Transfer learning"). Every run uses the same held-out sessions (the
# sign-digits default split, seed 1) and the same number of epochs; the
# table gives each run's wall time so that the time budgets can be compared.
#
#   sh scripts/transfer_compare.sh [OUT_DIR]      (default runs/transfer)
#
# Environment: RESIDUAL (the binary, default: go run ./cmd/residual),
# DATA (default ../shared/data/gestures/sign-language-digits),
# MODEL (default models/emotion-fer2013.residual), EPOCHS (default 15),
# RUNS (default all four: finetune-full scratch-full finetune-10pct
# scratch-10pct; runs already done keep their results for the table).
set -eu
out=${1:-runs/transfer}
data=${DATA:-../shared/data/gestures/sign-language-digits}
pretrained=${MODEL:-models/emotion-fer2013.residual}
epochs=${EPOCHS:-15}
if [ -z "${RESIDUAL:-}" ]; then
	go build -o "$out/residual" ./cmd/residual
	RESIDUAL=$out/residual
fi
mkdir -p "$out"

common="--data $data --format sign-digits --seed 1 --batch 32 --lr 0.05 --epochs $epochs --progress lines --log-every 1000 --overwrite"
# The pretrained network's architecture, for the from-scratch runs.
arch="--model resnet18-small --width-mult 0.375 --image-size 48 --channels 1"
finetune="--from $pretrained --freeze backbone --unfreeze-after 2 --backbone-lr-mult 0.1"
scratch="$arch"

run() { # name, flags...
	name=$1
	shift
	echo "== $name: $RESIDUAL train $* --out $out/$name"
	start=$(date +%s)
	"$RESIDUAL" train "$@" --out "$out/$name" >"$out/$name.log" 2>&1
	echo $(($(date +%s) - start)) >"$out/$name.seconds"
}

for name in ${RUNS:-finetune-full scratch-full finetune-10pct scratch-10pct}; do
	case $name in
	finetune-full) run $name $common $finetune ;;
	scratch-full) run $name $common $scratch ;;
	finetune-10pct) run $name $common $finetune --train-fraction 0.1 ;;
	scratch-10pct) run $name $common $scratch --train-fraction 0.1 ;;
	*) echo "unknown run $name" >&2; exit 2 ;;
	esac
done

printf '\n| run | best val acc | best epoch | final val acc | wall time |\n| --- | --- | --- | --- | --- |\n'
for name in finetune-full scratch-full finetune-10pct scratch-10pct; do
	[ -f "$out/$name/metrics.csv" ] || continue
	awk -F, -v name="$name" -v secs="$(cat "$out/$name.seconds")" '
		NR > 1 { if ($6 > best) { best = $6; at = $1 }; last = $6 }
		END { printf "| %s | %.2f%% | %d | %.2f%% | %d s |\n", name, 100 * best, at, 100 * last, secs }
	' "$out/$name/metrics.csv"
done
