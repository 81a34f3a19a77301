# gnuplot -e "dat='build/bench/latency-counted.dat'; png='build/bench/latency-counted.png'; clock='guest virtual time, QEMU TCG -icount shift=0'" bench/latency.gp
# ibv_reg_mr latency against size: success path on the baseline and the
# patched kernel (B1), early and late refusal on the patched kernel (B2);
# clock names what the times are (make bench plots each mode).
set terminal pngcairo size 900,560 font ",10"
set output png
set title sprintf("ibv_reg_mr latency against size (medians; %s)", clock) noenhanced
set logscale xy
set xlabel "registration size"
set ylabel "latency (µs)"
set xtics ("4K" 4096, "64K" 65536, "2M" 2097152, "64M" 67108864, "1G" 1073741824)
set key top left
set grid
plot dat using 1:2 with linespoints title "success, baseline (nogate)", \
     dat using 1:3 with linespoints title "success, patched", \
     dat using 1:4 with linespoints title "refusal, early (patched)", \
     dat using 1:5 with linespoints title "refusal, late (early check off)"
