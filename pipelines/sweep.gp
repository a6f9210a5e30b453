# pipelines/sweep.gp — success rate (95% Wilson interval) and lowest validation loss per grid point.
#   gnuplot -e "in='sweep.tsv'; out='sweep.png'; first=N+1; has_val=0|1; name='...'" sweep.gp
# sweep.tsv: N axis columns, then val_loss, success_rate, success_lo, success_hi, train_s, run.
set terminal pngcairo size 900,550 noenhanced
set output out
set title name
set datafile separator "\t"
set datafile missing "NA"
set key top left
set grid ytics
set ylabel "success rate"
set yrange [-0.02:1.02]
set xtics rotate by -30
set offsets 0.5, 0.5, 0, 0
if (has_val) {
  set y2label "lowest validation loss"
  set y2tics
  set ytics nomirror
  plot in skip 1 using 0:(column(first+1)):(column(first+2)):(column(first+3)):xticlabels(strcol(first+5)) \
         with yerrorbars pt 7 ps 1.2 lw 2 lc rgb "#228833" title "success rate (95% interval)", \
       in skip 1 using 0:(column(first)) axes x1y2 with points pt 5 ps 1 lc rgb "#cc6677" title "lowest validation loss"
} else {
  plot in skip 1 using 0:(column(first+1)):(column(first+2)):(column(first+3)):xticlabels(strcol(first+5)) \
         with yerrorbars pt 7 ps 1.2 lw 2 lc rgb "#228833" title "success rate (95% interval)"
}
