// snn_event_queue: the addresses of the neurons (or inputs) that spiked, one list per timestep, double-buffered.
// The writer appends to the current step's list; a reader reads the current list (feed-forward edges) or the
// previous step's list (recurrent edges, which carry their source's output of step t-1). `step` starts a new
// timestep: the previous current list becomes the previous one and the new current list is empty. `clear` empties
// both (start of a sample: recurrent edges carry the initial output, no spikes).
// Reads are registered: rd_addr is valid the cycle after rd_idx / rd_prev.
`default_nettype none
module snn_event_queue #(
    parameter N = 16,          // capacity of one list: the source's neuron count
    parameter AW = 4,          // address width of an event
    parameter CW = 5           // width of counts and indices (holds N)
) (
    input  wire          clk,
    input  wire          clear,
    input  wire          step,
    input  wire          push,
    input  wire [AW-1:0] push_addr,
    input  wire          rd_prev,
    input  wire [CW-1:0] rd_idx,
    output wire [AW-1:0] rd_addr,
    output wire [CW-1:0] count_cur,
    output wire [CW-1:0] count_prev
);
    localparam MW = $clog2(2 * N);
    reg          bank;
    reg [CW-1:0] count0, count1;
    assign count_cur  = bank ? count1 : count0;
    assign count_prev = bank ? count0 : count1;
    wire         rbank = rd_prev ? ~bank : bank;
    wire [MW-1:0] waddr = bank ? (N + count1) : count0;
    wire [MW-1:0] raddr = rbank ? (N + rd_idx) : rd_idx;
    always @(posedge clk) begin
        if (clear) begin
            bank <= 1'b0;
            count0 <= 0;
            count1 <= 0;
        end else if (step) begin
            bank <= ~bank;
            if (bank) count0 <= 0; else count1 <= 0;
        end else if (push) begin
            if (bank) count1 <= count1 + 1'b1; else count0 <= count0 + 1'b1;
        end
    end
    snn_ram #(.WIDTH(AW), .DEPTH(2 * N), .AW(MW)) mem (
        .clk(clk), .we(push && !clear && !step), .waddr(waddr), .wdata(push_addr),
        .re(1'b1), .raddr(raddr), .rdata(rd_addr)
    );
endmodule
`default_nettype wire
