//! `parallel`: independent rows of a CPU computation spread over the cores.

/// `f(r)` for every r in `0..n`, in order, computed over the available cores (one thread
/// where threads cannot be spawned, as in the browser).
pub(crate) fn map_rows<R: Send, F: Fn(usize) -> R + Sync>(n: usize, f: F) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n.max(1));
    if threads <= 1 || cfg!(target_arch = "wasm32") {
        return (0..n).map(f).collect();
    }
    let per = n.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| s.spawn(move || (start..(start + per).min(n)).map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("a row worker panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_come_back_in_order() {
        for n in [0, 1, 7, 1000] {
            assert_eq!(
                super::map_rows(n, |r| r * r),
                (0..n).map(|r| r * r).collect::<Vec<_>>()
            );
        }
    }
}
