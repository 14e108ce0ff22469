//! Kernel-only timing, for benchmarks: one verify dispatch measured on the device's own clock
//! (timestamp queries), without the upload, the readback or the host's waiting. The node never
//! calls this; `mameynode bench sigverify --backend gpu` reports it beside the end-to-end rate.

use super::*;

impl GpuVerifier {
    /// Most signatures in one dispatch, after the device's buffer limits.
    pub fn dispatch_size_max(&self) -> usize {
        self.dispatch_size_max
    }

    /// Device time of one verify dispatch over `words` (whole packed signatures, at most the
    /// dispatch limit). `None` when the adapter has no timestamp queries.
    pub fn kernel_time(&self, words: &[u32]) -> Result<Option<Duration>, GpuError> {
        use wgpu::BufferUsages as U;
        assert_eq!(words.len() % WORDS_PER_SIG, 0, "whole signatures only");
        let count = words.len() / WORDS_PER_SIG;
        if !self.ctx.timestamps || count == 0 {
            return Ok(None);
        }
        if count > self.dispatch_size_max {
            return Err(GpuError::Validation(format!(
                "{count} signatures exceed the dispatch limit {}",
                self.dispatch_size_max
            )));
        }
        let slots = self
            .slots
            .lock()
            .map_err(|_| GpuError::Validation("slot lock poisoned".into()))?;
        let slot = &slots[0];
        let ctx = &self.ctx;
        ctx.queue
            .write_buffer(&slot.params, 0, &words_to_bytes(&[count as u32, 0, 0, 0]));
        ctx.queue
            .write_buffer(&slot.input, 0, &words_to_bytes(words));
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel_time"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolved = ctx.buffer("kernel_time", 16, U::QUERY_RESOLVE | U::COPY_SRC);
        let readback = ctx.buffer("kernel_time_readback", 16, U::MAP_READ | U::COPY_DST);
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("verify_timed"),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &slot.bind_group, &[]);
            let (x, y) = ctx.workgroups(count);
            pass.dispatch_workgroups(x, y, 1);
        }
        encoder.resolve_query_set(&queries, 0..2, &resolved, 0);
        encoder.copy_buffer_to_buffer(&resolved, 0, &readback, 0, 16);
        let index = ctx.queue.submit([encoder.finish()]);
        let t = ctx.read(&readback, 4, index, self.timeout())?;
        let start = u64::from(t[0]) | (u64::from(t[1]) << 32);
        let end = u64::from(t[2]) | (u64::from(t[3]) << 32);
        // Ticks to nanoseconds by the queue's period (a benchmark figure, never consensus data).
        let ns = end.saturating_sub(start) as f64 * f64::from(ctx.queue.get_timestamp_period());
        Ok(Some(Duration::from_nanos(ns as u64)))
    }
}
